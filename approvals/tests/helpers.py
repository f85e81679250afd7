"""What approvals' tests (and those of the apps above that order through admission) build their
world with: billing's Acme (`billing_world`) and the policies that decide its orders."""

from decimal import Decimal

from approvals.models import ApproverRole
from approvals.tests.factories import ApprovalPolicyFactory
from billing.tests.helpers import billing_world

MANAGER = {"name": "Manager", "role": ApproverRole.PROJECT_MANAGER, "sla_hours": 48}
FINANCE = {"name": "Finance", "role": ApproverRole.FINANCE, "sla_hours": 72}
FINANCE_ABOVE = Decimal("50")  # a month: Acme's finance decides orders above it
SELF_SERVICE_BELOW = Decimal("50")  # a month: data-lab's orders below it approve themselves


def approvals_world() -> dict:
    """`billing_world`'s Acme and two policies: "Acme standard" for every Acme order (web-shop's
    manager bob decides, then finance above FINANCE_ABOVE a month, by different people), and
    "data-lab self-service" for data-lab's (approved below SELF_SERVICE_BELOW, finance above)."""
    world = billing_world()
    ApprovalPolicyFactory(
        name="Acme standard",
        organization=world["organization"],
        distinct_approvers=True,
        stages=[MANAGER, {**FINANCE, "skip_at_or_below": FINANCE_ABOVE}],
    )
    ApprovalPolicyFactory(
        name="data-lab self-service",
        organization=None,
        project=world["data_lab"],
        auto_approve_below=SELF_SERVICE_BELOW,
        stages=[FINANCE],
    )
    return world
