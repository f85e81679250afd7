"""The directory sync (`identity.tasks.directory_sync`, run by beat) against a real OpenLDAP
directory: people disabled there lose their sessions, tokens and roles, and get them back when
enabled again; a directory that does not answer changes nobody."""

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from core.models import ProjectMembership
from identity.tasks import directory_sync
from identity.tests.helpers import (
    directory_password,
    html_login,
    ldap_settings_fixture,  # noqa: F401  (fixture: Canopy pointed at the test directory)
    project_names,
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    token_exchange,
)

pytestmark = pytest.mark.django_db


def test_disabled_in_the_directory_loses_sessions_tokens_and_roles(ldap_settings, shop):
    browser, _ = html_login("frank", directory_password("frank"))
    token = token_exchange("frank", directory_password("frank")).data["token"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert project_names(api) == ["web-shop"]

    ldap_settings.set_disabled("frank", True)
    directory_sync()  # beat runs it every CANOPY_LDAP_SYNC_MINUTES
    frank = User.objects.get(username="frank")
    assert not frank.is_active
    assert not ProjectMembership.objects.filter(user=frank).exists()
    assert api.get("/api/v1/projects/").status_code == 401
    assert browser.get("/api/v1/projects/").status_code in (401, 403)
    assert token_exchange("frank", directory_password("frank")).status_code == 400

    ldap_settings.set_disabled("frank", False)
    directory_sync()
    assert User.objects.get(username="frank").is_active
    assert project_names(api) == ["web-shop"]


def test_sync_leaves_people_alone_while_the_directory_does_not_answer(ldap_settings, settings):
    assert token_exchange("frank", directory_password("frank")).status_code == 200
    settings.AUTH_LDAP_SERVER_URI = "ldap://127.0.0.1:1"
    directory_sync()
    assert User.objects.get(username="frank").is_active
    assert ProjectMembership.objects.filter(user__username="frank").exists()
