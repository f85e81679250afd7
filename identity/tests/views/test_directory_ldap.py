"""Sign-in from a real OpenLDAP directory (slapd started by the suite) through the HTML login:
people who exist only in the directory land in the projects their (nested) groups map to, act
by that role, and lose it when the directory changes."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.models import AuditEvent, ProjectMembership, ProjectRole
from core.services import project_membership_add
from identity.models import DirectoryIdentity
from identity.tests.helpers import (
    directory_password,
    html_login,
    ldap_settings_fixture,  # noqa: F401  (fixture: Canopy pointed at the test directory)
    linux_vm_fixture,  # noqa: F401  (fixture: web-shop may order the linux-vm)
    project_names,
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    token_exchange,
)
from tests.fixtures import order_via_api
from tests.ldap_server import user_dn

pytestmark = pytest.mark.django_db


def test_directory_people_sign_in_and_act_by_their_groups_roles(ldap_settings, shop, linux_vm):
    assert not User.objects.filter(username__in=["erin", "frank"]).exists()

    # erin (shop-leads, nested in web-shop-managers → manager) signs in through the HTML login.
    erin, answer = html_login("erin", directory_password("erin"))
    assert answer.status_code == 302
    erin_user = User.objects.get(username="erin")
    assert (erin_user.first_name, erin_user.last_name, erin_user.email) == (
        "Erin",
        "Lead",
        "erin@example.com",
    )
    assert not erin_user.has_usable_password()
    assert erin_user.directory_identity.source == "ldap"
    membership = ProjectMembership.objects.get(user=erin_user)
    assert (membership.project, membership.role, membership.from_directory) == (
        shop["web_shop"],
        ProjectRole.MANAGER,
        True,
    )

    # frank (web-shop-developers → member) gets a token and orders with it; erin
    # is among its approvers.
    answer = token_exchange("frank", directory_password("frank"))
    assert answer.status_code == 200, answer.content
    frank = APIClient()
    frank.credentials(HTTP_AUTHORIZATION=f"Token {answer.data['token']}")
    assert project_names(frank) == ["web-shop"]
    order = order_via_api(frank, shop)
    assert order.status_code == 201, order.content
    pending = erin.get("/api/v1/approvals/?status=pending").json()["results"]
    assert [a["order"]["id"] for a in pending] == [order.data["id"]]
    decided = erin.post(
        f"/api/v1/approvals/{pending[0]['id']}/approve/", {"comment": "ok"}, "application/json"
    )
    assert decided.status_code == 200, decided.content
    assert erin.get(f"/api/v1/approvals/{pending[0]['id']}/").json()["status"] == "approved"

    # erin leaves shop-leads: at her next sign-in she is manager no more.
    ldap_settings.remove_member("shop-leads", user_dn("erin"))
    erin, answer = html_login("erin", directory_password("erin"))
    assert answer.status_code == 302
    assert not ProjectMembership.objects.filter(user=erin_user).exists()
    assert erin.get("/api/v1/projects/").json()["results"] == []
    assert AuditEvent.objects.filter(
        action="directory_role_removed", target_id=str(erin_user.pk)
    ).exists()

    # frank joins shop-leads: nested membership makes him manager at his next sign-in.
    ldap_settings.add_member("shop-leads", user_dn("frank"))
    assert token_exchange("frank", directory_password("frank")).status_code == 200
    assert ProjectMembership.objects.get(user__username="frank").role == ProjectRole.MANAGER


def test_wrong_passwords_and_disabled_people_are_refused(ldap_settings, shop):
    _, answer = html_login("erin", "not-her-password")
    assert answer.status_code == 200
    assert "enter a correct" in answer.content.decode()
    assert token_exchange("erin", "not-her-password").status_code == 400
    # gina's password is right, but her account is disabled in the directory.
    assert html_login("gina", directory_password("gina"))[1].status_code == 200
    assert token_exchange("gina", directory_password("gina")).status_code == 400
    assert not User.objects.filter(username="gina").exists()


def test_memberships_made_by_hand_stay_whatever_the_groups_say(ldap_settings, shop):
    html_login("erin", directory_password("erin"))
    erin = User.objects.get(username="erin")
    project_membership_add(user=erin, project=shop["data_lab"], role=ProjectRole.MEMBER)
    ldap_settings.remove_member("shop-leads", user_dn("erin"))
    html_login("erin", directory_password("erin"))
    assert list(ProjectMembership.objects.filter(user=erin).values_list("project__slug")) == [
        ("data-lab",)
    ]
    assert DirectoryIdentity.objects.get(user=erin).groups == []


def test_local_passwords_off_leaves_superusers_and_the_directory(ldap_settings, settings):
    settings.CANOPY_LOCAL_PASSWORDS = False
    assert html_login("alice", "canopy")[1].status_code == 200  # refused
    assert token_exchange("alice", "canopy").status_code == 400
    assert html_login("admin", "canopy")[1].status_code == 302  # break-glass
    assert html_login("erin", directory_password("erin"))[1].status_code == 302
