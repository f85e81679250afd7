"""Approval policies on a need-to-know basis: a member sees those that can apply to their own
projects and orders, an organization's admins all of the organization's, staff everything."""

import pytest

from approvals.models import ApprovalPolicy, ApprovalRequest
from approvals.services.policies import policy_save
from approvals.tests.factories import ApprovalPolicyFactory
from approvals.tests.helpers import approvals_world
from core.models import OrganizationRole
from core.services import organization_membership_add
from core.tests.factories import ProjectFactory
from tests.fixtures import order_via_api


@pytest.fixture
def world(built) -> dict:
    """Acme's people, projects, account, item and policies, by name (see `approvals_world`)."""
    return built(approvals_world)


@pytest.fixture
def policies(world) -> dict[str, ApprovalPolicy]:
    """Acme's "Acme standard" (organization-wide) and "data-lab self-service", plus one for
    web-shop only and one of another organization."""
    globex = ProjectFactory(name="Rockets", organization__name="Globex").organization
    ApprovalPolicyFactory(
        name="web-shop large servers",
        organization=None,
        project=world["web_shop"],
        min_monthly_cost=100,
    )
    ApprovalPolicyFactory(name="Globex standard", organization=globex)
    return {policy.name: policy for policy in ApprovalPolicy.objects.all()}


def _visible(client) -> set[str]:
    answer = client.get("/api/v1/policies/")
    assert answer.status_code == 200
    return {policy["name"] for policy in answer.json()["results"]}


def test_a_member_sees_the_policies_of_their_own_projects(world, api_as, policies):
    organization_wide = {  # "Acme standard" and any other of Acme's
        name for name, policy in policies.items() if policy.project_id is None
    } - {"Globex standard"}
    assert "Acme standard" in organization_wide
    assert _visible(api_as(world["alice"])) == organization_wide | {"web-shop large servers"}
    assert _visible(api_as(world["dave"])) == organization_wide | {"data-lab self-service"}
    other = policies["data-lab self-service"].pk
    assert api_as(world["alice"]).get(f"/api/v1/policies/{other}/").status_code == 404


def test_organization_admins_see_all_of_their_organization(
    world, api_as, policies, django_user_model
):
    olga = django_user_model.objects.create_user("olga", "olga@acme.example", "pw")
    organization_membership_add(
        user=olga, organization=world["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    assert _visible(api_as(olga)) == set(policies) - {"Globex standard"}
    assert _visible(api_as(world["admin"])) == set(policies)


def test_the_policy_that_decided_my_order_stays_visible(world, api_as, policies):
    alice = api_as(world["alice"])
    order = order_via_api(alice, world)
    assert order.status_code == 201, order.content
    assert ApprovalRequest.objects.get(order_id=order.json()["id"]).policy_name == "Acme standard"
    # The organization-wide policy decided it; it then moves to data-lab alone.
    policy_save(
        policy=policies["Acme standard"], fields={"project": world["data_lab"]}, stages=None
    )
    assert "Acme standard" in _visible(alice)
