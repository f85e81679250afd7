"""Sign-in from a real OpenLDAP directory (slapd started by the suite): people who exist only
in the directory sign in through the HTML login and the token endpoint, land in the projects
their (nested) groups map to, act by that role, and lose it when the directory changes."""

from pathlib import Path

import ldap
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django_auth_ldap.config import LDAPSearch, NestedGroupOfNamesType
from rest_framework.test import APIClient

from core.models import AuditEvent, ProjectMembership, ProjectRole
from core.services import project_membership_add
from identity.models import DirectoryIdentity
from identity.tasks import directory_sync
from tests.fixtures import order_via_api
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    GROUPS,
    PEOPLE,
    PEOPLE_ENTRIES,
    Directory,
    group_dn,
    user_dn,
)

pytestmark = pytest.mark.django_db


def _password(uid: str) -> str:
    return PEOPLE_ENTRIES[uid]["password"]


@pytest.fixture
def ldap_settings(settings, directory: Directory, demo, tmp_path: Path) -> Directory:
    """Canopy pointed at the test directory, with the README's kind of role mapping loaded."""
    settings.AUTH_LDAP_SERVER_URI = directory.uri
    settings.AUTH_LDAP_BIND_DN = ADMIN_DN
    settings.AUTH_LDAP_BIND_PASSWORD = ADMIN_PASSWORD
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(
        PEOPLE, ldap.SCOPE_SUBTREE, "(&(uid=%(user)s)(!(employeeType=disabled)))"
    )
    settings.AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        GROUPS, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
    )
    settings.AUTH_LDAP_GROUP_TYPE = NestedGroupOfNamesType()
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n"
        f"  - {{group: '{group_dn('web-shop-managers')}', project: acme/web-shop, role: manager}}\n"
        "  - {group: web-shop-developers, project: acme/web-shop, role: member}\n"
        "  - {group: finance, organization: acme, role: finance}\n"
    )
    call_command("directory_roles_load", str(roles), stdout=open("/dev/null", "w"))  # noqa: SIM115
    return directory


def _html_login(uid: str, password: str) -> tuple[Client, object]:
    browser = Client()
    answer = browser.post("/accounts/login/", {"username": uid, "password": password})
    return browser, answer


def _token(uid: str, password: str):
    return APIClient().post("/api/v1/auth/token/", {"username": uid, "password": password})


def _project_names(client) -> list[str]:
    return [p["name"] for p in client.get("/api/v1/projects/").json()["results"]]


def test_directory_people_sign_in_and_act_by_their_groups_roles(ldap_settings, demo):
    assert not User.objects.filter(username__in=["erin", "frank"]).exists()

    # erin (shop-leads, nested in web-shop-managers → manager) signs in through the HTML login.
    erin, answer = _html_login("erin", _password("erin"))
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
        demo["web_shop"],
        ProjectRole.MANAGER,
        True,
    )

    # frank (web-shop-developers → member) gets a token and orders with it; erin
    # is among its approvers.
    answer = _token("frank", _password("frank"))
    assert answer.status_code == 200, answer.content
    frank = APIClient()
    frank.credentials(HTTP_AUTHORIZATION=f"Token {answer.data['token']}")
    assert _project_names(frank) == ["web-shop"]
    order = order_via_api(frank, demo)
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
    erin, answer = _html_login("erin", _password("erin"))
    assert answer.status_code == 302
    assert not ProjectMembership.objects.filter(user=erin_user).exists()
    assert erin.get("/api/v1/projects/").json()["results"] == []
    assert AuditEvent.objects.filter(
        action="directory_role_removed", target_id=str(erin_user.pk)
    ).exists()

    # frank joins shop-leads: nested membership makes him manager at his next sign-in.
    ldap_settings.add_member("shop-leads", user_dn("frank"))
    assert _token("frank", _password("frank")).status_code == 200
    assert ProjectMembership.objects.get(user__username="frank").role == ProjectRole.MANAGER


def test_wrong_passwords_and_disabled_people_are_refused(ldap_settings, demo):
    _, answer = _html_login("erin", "not-her-password")
    assert answer.status_code == 200
    assert "enter a correct" in answer.content.decode()
    assert _token("erin", "not-her-password").status_code == 400
    # gina's password is right, but her account is disabled in the directory.
    assert _html_login("gina", _password("gina"))[1].status_code == 200
    assert _token("gina", _password("gina")).status_code == 400
    assert not User.objects.filter(username="gina").exists()


def test_disabled_in_the_directory_loses_sessions_tokens_and_roles(ldap_settings, demo):
    browser, _ = _html_login("frank", _password("frank"))
    token = _token("frank", _password("frank")).data["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert _project_names(api) == ["web-shop"]

    ldap_settings.set_disabled("frank", True)
    directory_sync()  # beat runs it every CANOPY_LDAP_SYNC_MINUTES
    frank = User.objects.get(username="frank")
    assert not frank.is_active
    assert not ProjectMembership.objects.filter(user=frank).exists()
    assert api.get("/api/v1/projects/").status_code == 401
    assert browser.get("/api/v1/projects/").status_code in (401, 403)
    assert _token("frank", _password("frank")).status_code == 400

    ldap_settings.set_disabled("frank", False)
    directory_sync()
    assert User.objects.get(username="frank").is_active
    assert _project_names(api) == ["web-shop"]


def test_sync_leaves_people_alone_while_the_directory_does_not_answer(ldap_settings, settings):
    assert _token("frank", _password("frank")).status_code == 200
    settings.AUTH_LDAP_SERVER_URI = "ldap://127.0.0.1:1"
    directory_sync()
    assert User.objects.get(username="frank").is_active
    assert ProjectMembership.objects.filter(user__username="frank").exists()


def test_memberships_made_by_hand_stay_whatever_the_groups_say(ldap_settings, demo):
    _html_login("erin", _password("erin"))
    erin = User.objects.get(username="erin")
    project_membership_add(user=erin, project=demo["data_lab"], role=ProjectRole.MEMBER)
    ldap_settings.remove_member("shop-leads", user_dn("erin"))
    _html_login("erin", _password("erin"))
    assert list(ProjectMembership.objects.filter(user=erin).values_list("project__slug")) == [
        ("data-lab",)
    ]
    assert DirectoryIdentity.objects.get(user=erin).groups == []


def test_starttls_and_ldaps_verify_the_servers_certificate(ldap_settings, settings):
    trusted = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_CACERTFILE: ldap_settings.ca_file,
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    settings.AUTH_LDAP_START_TLS = True
    settings.AUTH_LDAP_CONNECTION_OPTIONS = trusted
    assert _token("erin", _password("erin")).status_code == 200
    settings.AUTH_LDAP_START_TLS = False
    settings.AUTH_LDAP_SERVER_URI = ldap_settings.ldaps_uri
    assert _token("frank", _password("frank")).status_code == 200
    # Without the CA the server's certificate is not trusted: no sign-in.
    settings.AUTH_LDAP_CONNECTION_OPTIONS = {
        ldap.OPT_REFERRALS: 0,
        ldap.OPT_X_TLS_CACERTFILE: "/etc/ssl/certs/ca-certificates.crt",
        ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
        ldap.OPT_X_TLS_NEWCTX: 0,
    }
    assert _token("erin", _password("erin")).status_code == 400


def test_local_passwords_off_leaves_superusers_and_the_directory(ldap_settings, settings):
    settings.CANOPY_LOCAL_PASSWORDS = False
    assert _html_login("alice", "canopy")[1].status_code == 200  # refused
    assert _token("alice", "canopy").status_code == 400
    assert _html_login("admin", "canopy")[1].status_code == 302  # break-glass
    assert _html_login("erin", _password("erin"))[1].status_code == 302
