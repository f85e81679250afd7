from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from approvals.api.serializers import (
    ApprovalDecidedSerializer,
    ApprovalSerializer,
    DecisionSerializer,
    DelegationSerializer,
    PolicySerializer,
    QuotaSerializer,
)
from approvals.filtersets import ApprovalFilterSet
from approvals.models import ApprovalDecision, ApprovalRequest, ApprovalStage, Quota
from approvals.selectors.deciders import approval_inbox, approval_list, delegation_list
from approvals.selectors.policies import policy_list
from approvals.selectors.quota import quota_list
from approvals.services.deciding import approval_decide
from approvals.services.delegation import delegation_create, delegation_delete
from approvals.services.policies import policy_save
from approvals.services.quota import quota_set
from core.selectors import project_list


class ApprovalViewSet(viewsets.ReadOnlyModelViewSet):
    """Approval requests the caller is an approver of (never their own orders), with the policy
    that applied, why, and every stage's approvers and decisions."""

    serializer_class = ApprovalSerializer
    filterset_class = ApprovalFilterSet
    lookup_value_regex = r"\d+"  # leaves approvals/delegations/ to its own viewset

    def get_queryset(self):
        return self._with_stages(approval_list(user=self.request.user))

    @staticmethod
    def _stages() -> Prefetch:
        stages = ApprovalStage.objects.prefetch_related(
            "approvers",
            Prefetch("decisions", ApprovalDecision.objects.select_related("user", "on_behalf_of")),
        )
        return Prefetch("stages", stages)

    @classmethod
    def _with_stages(cls, approvals):
        return approvals.prefetch_related(cls._stages())

    @extend_schema(responses={200: ApprovalSerializer(many=True)})
    @action(detail=False)
    def inbox(self, request):
        """Pending requests whose open stage the caller can decide now."""
        inbox = self.filter_queryset(approval_inbox(user=request.user))
        page = self.paginate_queryset(self._with_stages(inbox))
        return self.get_paginated_response(ApprovalSerializer(page, many=True).data)

    def _decide(self, request, approve: bool) -> Response:
        """The decision is recorded and answered at once (a worker deploys an approved order);
        the request is looked up by the service, under its lock, among those the user sees.
        The answer leaves the chain out (three more reads): the request's detail has it."""
        decision = DecisionSerializer(data=request.data)
        decision.is_valid(raise_exception=True)
        try:
            approval = approval_decide(
                user=request.user,
                approval_id=self.kwargs["pk"],
                approve=approve,
                comment=decision.validated_data["comment"],
            )
        except ApprovalRequest.DoesNotExist:
            raise Http404 from None
        return Response(ApprovalDecidedSerializer(approval).data)

    @extend_schema(request=DecisionSerializer, responses={200: ApprovalDecidedSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, approve=True)

    @extend_schema(request=DecisionSerializer, responses={200: ApprovalDecidedSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, approve=False)


class DelegationViewSet(
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """The caller's delegations, given and received. Creating one delegates the caller's
    approvals to another user for a date range."""

    serializer_class = DelegationSerializer

    def get_queryset(self):
        return delegation_list(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = delegation_create(
            delegator=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        delegation_delete(user=self.request.user, delegation_id=instance.pk)


class StaffWrites(BasePermission):
    """Anyone signed in reads; only staff change."""

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or request.user.is_staff


class PolicyViewSet(viewsets.ModelViewSet):
    """Approval policies: what they match (organization, project, item, category, resource
    kinds, cost range, over quota) and their chain of stages. Staff edit them."""

    serializer_class = PolicySerializer
    permission_classes = [StaffWrites]
    filterset_fields = ["is_active", "organization", "project"]

    def get_queryset(self):
        return policy_list(user=self.request.user)

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        stages = data.pop("stages", [])
        serializer.instance = policy_save(policy=None, fields=data, stages=stages)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        stages = data.pop("stages", None)
        serializer.instance = policy_save(policy=serializer.instance, fields=data, stages=stages)


class QuotaViewSet(viewsets.ReadOnlyModelViewSet):
    """Quotas of the caller's projects and organizations, with what is reserved and used."""

    serializer_class = QuotaSerializer
    filterset_fields = ["project", "organization"]

    def get_queryset(self):
        return quota_list(user=self.request.user)


class ProjectQuotaView(generics.GenericAPIView):
    """A project's quota: limits (null = unlimited) and the ledger's reserved/used figures.
    Staff and the organization's admins change the limits."""

    serializer_class = QuotaSerializer

    def _project(self):
        return get_object_or_404(project_list(user=self.request.user), pk=self.kwargs["project_id"])

    def _quota(self, project) -> Quota:
        return Quota.objects.filter(project=project).first() or Quota(project=project)

    @extend_schema(parameters=[OpenApiParameter("project_id", int, OpenApiParameter.PATH)])
    def get(self, request, project_id: int):
        return Response(QuotaSerializer(self._quota(self._project())).data)

    @extend_schema(parameters=[OpenApiParameter("project_id", int, OpenApiParameter.PATH)])
    def patch(self, request, project_id: int):
        project = self._project()
        incoming = QuotaSerializer(self._quota(project), data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        quota = quota_set(user=request.user, project=project, limits=incoming.validated_data)
        return Response(QuotaSerializer(quota).data)
