from drf_spectacular.utils import extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from approvals.models import ApprovalRequest
from approvals.selectors import approval_list
from approvals.services import approval_decide
from catalog.api.serializers import OrderSerializer


class ApprovalSerializer(serializers.ModelSerializer):
    order = OrderSerializer()
    decided_by = serializers.CharField(source="decided_by.username", default=None)

    class Meta:
        model = ApprovalRequest
        fields = ["id", "status", "order", "decided_by", "decided_at", "comment", "created_at"]


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ApprovalViewSet(viewsets.ReadOnlyModelViewSet):
    """Approval requests the caller may decide (never their own orders)."""

    serializer_class = ApprovalSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        return approval_list(user=self.request.user)

    def _decide(self, request, approve: bool) -> Response:
        approval = self.get_object()
        decision = DecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        approval = approval_decide(
            user=request.user,
            approval_id=approval.pk,
            approve=approve,
            comment=decision.validated_data["comment"],
        )
        return Response(ApprovalSerializer(approval).data)

    @extend_schema(request=DecisionSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True)

    @extend_schema(request=DecisionSerializer, responses={200: ApprovalSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, approve=False)
