"""The group → role mapping on its own (no directory server): its YAML loader and how roles
follow groups, organization roles included."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.models import OrganizationMembership, OrganizationRole, ProjectMembership
from core.selectors import project_list, user_has_project_perm
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from identity.models import DirectoryRoleMapping
from identity.services import directory_roles_apply
from identity.tests.factories import OrganizationRoleMappingFactory, ProjectRoleMappingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme(db) -> dict:
    """Acme's web-shop and data-lab, dave a member of data-lab made by hand, alice, an admin."""
    organization = OrganizationFactory(name="Acme", slug="acme")
    dave = UserFactory(username="dave")
    return {
        "web_shop": ProjectFactory(organization=organization, slug="web-shop"),
        "data_lab": ProjectFactory(organization=organization, slug="data-lab", members=[dave]),
        "dave": dave,
        "alice": UserFactory(username="alice"),
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
    }


def test_a_broken_mapping_file_lists_every_problem_and_writes_nothing(acme, tmp_path: Path):
    DirectoryRoleMapping.objects.create(
        group="kept", organization=acme["web_shop"].organization, role=OrganizationRole.FINANCE
    )
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n"
        "  - {group: a, project: acme/nowhere, role: member}\n"
        "  - {group: b, organization: acme, role: manager}\n"
        "  - {group: c, role: member}\n"
        "  - {role: member, project: acme/web-shop}\n"
    )
    with pytest.raises(CommandError) as error:
        call_command("directory_roles_load", str(roles))
    message = str(error.value)
    assert "entry 1: no project acme/nowhere" in message
    assert "entry 2: An organization role is one of: Finance, Organization admin." in message
    assert "entry 3: Choose either a project or an organization." in message
    assert "entry 4: needs a group and a role" in message
    assert list(DirectoryRoleMapping.objects.values_list("group", flat=True)) == ["kept"]


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


def test_staff_manage_the_mapping_through_the_api(acme, api_as):
    admin = api_as(acme["admin"])
    created = admin.post(
        "/api/v1/directory-role-mappings/",
        {"group": "/web-shop-managers", "project": acme["web_shop"].pk, "role": "manager"},
    )
    assert created.status_code == 201, created.content
    wrong = admin.post(
        "/api/v1/directory-role-mappings/",
        {"group": "x", "project": acme["web_shop"].pk, "role": "finance"},
    )
    assert wrong.status_code == 400
    assert wrong.json()["role"] == ["A project role is one of: Member, Manager."]
    both = admin.patch(
        f"/api/v1/directory-role-mappings/{created.data['id']}/",
        {"organization": acme["web_shop"].organization_id},
    )
    assert both.status_code == 400
    assert api_as(acme["alice"]).get("/api/v1/directory-role-mappings/").status_code == 403
