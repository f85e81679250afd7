"""API tokens and service accounts on their pages: a new token's secret is shown once and the
token revoked there; service accounts are for organization admins."""

import re

import pytest
from django.test import Client

from core.tests.factories import admin_of
from identity.models import ApiToken, ServiceAccount
from identity.tests.helpers import (
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    token_client,
)

pytestmark = pytest.mark.django_db


def test_tokens_page_creates_shows_the_secret_once_and_revokes(shop):
    browser = Client()
    browser.force_login(shop["alice"])
    page = browser.post(
        "/account/tokens/", {"name": "notebook", "expires_in_days": 3, "read_only": "on"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    key = re.search(r"<code>([\w-]{40,})</code>", html).group(1)
    assert "Copy it now" in html and "Read-only" in html
    assert token_client(key).get("/api/v1/projects/").status_code == 200
    assert key not in browser.get("/account/tokens/").content.decode()  # shown once only
    token = ApiToken.objects.get()
    answer = browser.post(f"/account/tokens/{token.pk}/revoke/", follow=True)
    assert "revoked" in answer.content.decode()
    assert token_client(key).get("/api/v1/projects/").status_code == 401
    too_long = browser.post("/account/tokens/", {"name": "x", "expires_in_days": 100000})
    assert "Ensure this value is less than or equal to" in too_long.content.decode()


def test_service_accounts_page_is_for_organization_admins(shop):
    org_admin = admin_of(shop["web_shop"].organization, shop["carol"])
    browser = Client()
    browser.force_login(shop["alice"])
    assert browser.get("/account/service-accounts/").status_code == 403
    browser.force_login(org_admin)
    created = browser.post(
        "/account/service-accounts/",
        {"project": shop["web_shop"].pk, "name": "ci", "role": "member"},
        follow=True,
    )
    assert "svc-web-shop-ci created" in created.content.decode()
    account = ServiceAccount.objects.get()
    issued = browser.post(
        f"/account/service-accounts/{account.pk}/tokens/", {"name": "deploy", "expires_in_days": 5}
    )
    key = re.search(r"<code>([\w-]{40,})</code>", issued.content.decode()).group(1)
    assert token_client(key).get("/api/v1/projects/").json()["results"][0]["name"] == "web-shop"
