"""Approvals' factories build what the product would: a policy saved with its chain routes an
order from the catalog's factories to the project's manager, and a quota refuses what it must."""

import pytest
from django.core.exceptions import ValidationError

from approvals.models import ApprovalRequest
from approvals.tests.factories import (
    FINANCE_STAGE,
    MANAGER_STAGE,
    ApprovalPolicyFactory,
    QuotaFactory,
)
from catalog.orders import order_admit
from catalog.tests.factories import OrderFactory, OrderingFactory

pytestmark = pytest.mark.django_db


def test_a_factory_policy_routes_a_factory_order_to_the_projects_manager() -> None:
    world = OrderingFactory()
    policy = ApprovalPolicyFactory(
        organization=world["project"].organization, stages=[MANAGER_STAGE, FINANCE_STAGE]
    )
    assert [stage.name for stage in policy.stages.order_by("position")] == ["Manager", "Finance"]
    order = OrderFactory(world=world)
    order_admit(order_id=order.pk)
    approval = ApprovalRequest.objects.get(order=order)
    assert approval.policy_name == policy.name
    assert list(approval.current_stage.approvers.all()) == [world["manager"]]


def test_a_factory_quota_refuses_an_order_that_does_not_fit() -> None:
    world = OrderingFactory()
    ApprovalPolicyFactory(organization=world["project"].organization)
    QuotaFactory(project=world["project"], max_servers=0)
    with pytest.raises(ValidationError) as refused:
        OrderFactory(world=world)
    assert "quota" in str(refused.value)
