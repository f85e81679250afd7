"""Catalog's factories make orders as a person does: submitted, with the plan pinned and priced
from the sandbox account's rate card, admitted under approvals' factory policies and quotas."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from approvals.models import ApprovalRequest
from approvals.tests.factories import (
    FINANCE_STAGE,
    MANAGER_STAGE,
    ApprovalPolicyFactory,
    QuotaFactory,
)
from catalog.models import plan_digest
from catalog.orders import order_admit
from catalog.selectors.menu import catalog_item_list
from catalog.tests.factories import CatalogItemFactory, OrderFactory, OrderingFactory

pytestmark = pytest.mark.django_db


def test_a_factory_order_is_submitted_with_its_plan_pinned_and_priced() -> None:
    order = OrderFactory(parameters={"name": "web-1", "size": "medium"})
    assert order.status == "submitted"
    assert order.plan_digest == plan_digest(order.plan)
    (server,) = order.plan["resources"]
    assert (server["kind"], server["properties"]["size"]) == ("server", "medium")
    assert order.estimated_monthly_cost == Decimal("58.40")  # 0.08 an hour, 730 hours


def test_an_entitled_item_is_offered_to_its_project_only() -> None:
    world, other = OrderingFactory(), OrderingFactory()
    item = CatalogItemFactory(projects=[world["project"]])
    assert item in catalog_item_list(user=world["requester"])
    assert item not in catalog_item_list(user=other["requester"])


def test_a_factory_policy_routes_a_factory_order_to_the_projects_manager() -> None:
    world = OrderingFactory()
    policy = ApprovalPolicyFactory(
        organization=world["project"].organization, stages=[MANAGER_STAGE, FINANCE_STAGE]
    )
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
