from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from catalog.api.serializers import ResourceSummarySerializer, StepSerializer
from provisioning.models import Step
from provisioning.selectors import resource_list
from provisioning.services import ACTIONS, resource_action_request


class ResourceSerializer(ResourceSummarySerializer):
    class Meta(ResourceSummarySerializer.Meta):
        fields = [
            *ResourceSummarySerializer.Meta.fields,
            "order",
            "project",
            "properties",
            "status_message",
            "created_at",
        ]


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[a.value for a in Step.Action if a in ACTIONS])


class ResourceViewSet(viewsets.ReadOnlyModelViewSet):
    """Resources of the caller's projects, with day-2 actions."""

    serializer_class = ResourceSerializer
    filterset_fields = ["order", "project", "state", "kind"]

    def get_queryset(self):
        return resource_list(user=self.request.user)

    @extend_schema(request=ActionSerializer, responses={202: StepSerializer})
    @action(detail=True, methods=["post"])
    def actions(self, request, pk=None):
        resource = self.get_object()
        incoming = ActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        step = resource_action_request(
            user=request.user, resource_id=resource.pk, action=incoming.validated_data["action"]
        )
        return Response(StepSerializer(step).data, status=status.HTTP_202_ACCEPTED)
