"""How roles follow directory groups (`directory_roles_apply`, no directory server): the
stronger project role wins, organization roles included, memberships made by hand stay."""

import pytest

from core.models import OrganizationMembership, ProjectMembership
from core.selectors import project_list, user_has_project_perm
from identity.services import directory_roles_apply
from identity.tests.factories import OrganizationRoleMappingFactory, ProjectRoleMappingFactory
from identity.tests.helpers import acme_fixture  # noqa: F401  (fixture: Acme's projects and people)

pytestmark = pytest.mark.django_db


def test_roles_follow_groups_and_the_stronger_project_role_wins(acme):
    web_shop, organization = acme["web_shop"], acme["web_shop"].organization
    ProjectRoleMappingFactory(group="devs", project=web_shop, role="member")
    ProjectRoleMappingFactory(group="Leads", project=web_shop, role="manager")
    OrganizationRoleMappingFactory(group="money", organization=organization, role="finance")
    dave = acme["dave"]  # hand-made member of data-lab

    directory_roles_apply(user=dave, groups=["devs", "leads", "MONEY"])
    assert ProjectMembership.objects.get(user=dave, project=web_shop).role == "manager"
    assert OrganizationMembership.objects.get(user=dave, organization=organization).from_directory
    assert user_has_project_perm(user=dave, project=acme["data_lab"], perm="view_project_costs")

    directory_roles_apply(user=dave, groups=["devs"])
    assert ProjectMembership.objects.get(user=dave, project=web_shop).role == "member"
    assert not user_has_project_perm(user=dave, project=web_shop, perm="approve_for_project")
    assert not OrganizationMembership.objects.filter(user=dave).exists()
    assert not user_has_project_perm(user=dave, project=web_shop, perm="view_project_costs")

    directory_roles_apply(user=dave, groups=[])
    assert [p.slug for p in project_list(user=dave)] == ["data-lab"]  # made by hand: stays
    assert user_has_project_perm(user=dave, project=acme["data_lab"], perm="order_in_project")
