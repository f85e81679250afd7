"""Approval policies as admission applies them (the most specific match, its chain of stages,
auto-approval, the default) and the escalation of overdue stages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ApprovalDecision, ApprovalPolicy, ApproverRole
from approvals.selectors.policies import approval_summary
from approvals.services.escalation import approval_escalate_overdue
from approvals.services.policies import policy_save
from approvals.tests.helpers import MANAGER
from catalog.tasks import admit_order
from catalog.tests.helpers import approval_of, decide_via_api
from core.models import AuditEvent, OrganizationRole
from core.services import organization_membership_add
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_small_order_needs_only_the_manager(world, api_as):
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert approval.policy_name == "Acme standard"
    assert [(s.name, s.status) for s in approval.stages.all()] == [("Manager", "pending")]
    assert list(approval.current_stage.approvers.all()) == [world["bob"]]
    assert AuditEvent.objects.filter(action="approval.stages_skipped", message__contains="Finance")


def test_auto_approval_is_attributed_to_the_policy(world, api_as):
    dave = api_as(world["dave"])
    answer = dave.post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": world["data_lab"].pk,
            "parameters": {"name": "lab-1", "size": "small"},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    admit_order(answer.data["id"])  # as the worker would
    approval = approval_of(answer)
    assert approval.status == "approved" and approval.decided_by is None
    assert approval.order.status in ("approved", "provisioning")
    event = AuditEvent.objects.get(action="approval.decided", order=approval.order)
    assert event.actor is None and "data-lab self-service approved it" in event.message


def test_most_specific_policy_wins_and_says_why(world, api_as):
    item = world["linux_vm"]
    policy_save(
        policy=None,
        fields={"name": "VMs in web-shop", "project": world["web_shop"], "catalog_item": item},
        stages=[{"name": "Finance only", "role": ApproverRole.FINANCE}],
    )
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert approval.policy_name == "VMs in web-shop"
    assert "project is web-shop" in approval.reason and "item is Linux VM" in approval.reason
    summary = approval_summary(order=approval.order)
    assert summary["policy"] == "VMs in web-shop"
    assert [s.name for s in summary["stages"]] == ["Finance only"]
    assert list(approval.current_stage.approvers.all()) == [world["carol"]]


def test_no_matching_policy_keeps_the_old_default(world, api_as):
    ApprovalPolicy.objects.all().delete()
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    assert approval.policy_name == "Default"
    assert approval.current_stage.role == ApproverRole.PROJECT_MANAGER


def test_overdue_stage_escalates_to_the_org_admin(world, api_as, django_user_model):
    olga = django_user_model.objects.create_user("olga", "olga@acme.example", "pw")
    organization_membership_add(
        user=olga, organization=world["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    stage = approval.current_stage
    assert approval_escalate_overdue() == 0  # not due yet (the Manager stage's SLA)
    overdue = timezone.now() + timedelta(hours=MANAGER["sla_hours"] + 1)
    assert approval_escalate_overdue(now=overdue) == 1
    stage.refresh_from_db()
    assert stage.role == ApproverRole.ORG_ADMIN and stage.escalations == 1
    assert set(stage.approvers.all()) >= {world["bob"], olga}
    event = AuditEvent.objects.get(action="approval.escalated", order=approval.order)
    assert event.actor is None and "escalated it from Project manager" in event.message
    assert decide_via_api(api_as(olga), approval, "approve").json()["status"] == "approved"


@pytest.mark.parametrize(
    ("on_timeout", "outcome"), [("approve", "approved"), ("reject", "rejected")]
)
def test_overdue_stage_decided_by_the_policy(world, api_as, on_timeout, outcome):
    policy = ApprovalPolicy.objects.get(name="Acme standard")
    policy.stages.filter(name="Manager").update(sla_hours=1, on_timeout=on_timeout)
    approval = approval_of(order_via_api(api_as(world["alice"]), world))
    approval_escalate_overdue(now=timezone.now() + timedelta(hours=2))
    approval.refresh_from_db()
    assert approval.status == outcome
    assert (
        approval.order.status
        in {"approve": ("approved", "provisioning"), "reject": ("rejected",)}[on_timeout]
    )
    decision = ApprovalDecision.objects.get(stage__request=approval)
    assert decision.user is None and "policy Acme standard" in decision.comment
