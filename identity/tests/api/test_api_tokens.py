"""API tokens through the API: named, expiring, optionally read-only, listed and revoked by their
owner; service accounts' tokens managed by organization admins; every use attributable in the
audit trail."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.tests.factories import admin_of
from identity.models import ApiToken, ServiceAccount
from identity.tests.factories import ApiTokenFactory
from identity.tests.helpers import (
    linux_vm_fixture,  # noqa: F401  (fixture: web-shop may order the linux-vm)
    shop_fixture,  # noqa: F401  (fixture: Acme's web-shop and its people)
    token_client,
)
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def _issue(user, **options) -> str:
    return ApiTokenFactory(user=user, name="test", **options).key


def test_password_exchange_issues_a_named_expiring_token(shop):
    answer = APIClient().post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "canopy", "name": "laptop", "expires_in_days": 7},
    )
    assert answer.status_code == 200, answer.content
    assert answer.data["name"] == "laptop"
    token = ApiToken.objects.get(pk=answer.data["id"])
    assert token.user == shop["alice"]
    assert timedelta(days=7) - timedelta(minutes=1) < token.expires_at - timezone.now()
    assert token.digest != answer.data["token"]  # only the digest is stored
    projects = token_client(answer.data["token"]).get("/api/v1/projects/")
    assert [p["name"] for p in projects.json()["results"]] == ["web-shop"]


def test_without_a_lifetime_a_token_gets_the_default_and_too_long_is_refused(shop):
    client = APIClient()
    answer = client.post("/api/v1/auth/token/", {"username": "alice", "password": "canopy"})
    lifetime = ApiToken.objects.get(pk=answer.data["id"]).expires_at - timezone.now()
    assert abs(lifetime - timedelta(days=settings.CANOPY_API_TOKEN_DAYS)) < timedelta(minutes=1)
    too_long = client.post(
        "/api/v1/auth/token/",
        {
            "username": "alice",
            "password": "canopy",
            "expires_in_days": settings.CANOPY_API_TOKEN_MAX_DAYS + 1,
        },
    )
    assert too_long.status_code == 400
    assert "expires_in_days" in too_long.json()
    wrong = client.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 400


def test_an_expired_token_is_a_401_that_says_so(shop):
    key = _issue(shop["alice"])
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = token_client(key).get("/api/v1/projects/")
    assert answer.status_code == 401
    assert "expired on" in answer.json()["detail"]


def test_the_owner_lists_and_revokes_and_others_see_nothing(shop):
    key = _issue(shop["alice"])
    _issue(shop["bob"])
    alice = token_client(key)
    listed = alice.get("/api/v1/tokens/").json()["results"]
    assert [(t["name"], t["status"], t["owner"]) for t in listed] == [("test", "Active", "alice")]
    assert "token" not in listed[0] and "digest" not in listed[0]
    bob_token = ApiToken.objects.get(user=shop["bob"])
    assert alice.delete(f"/api/v1/tokens/{bob_token.pk}/").status_code == 404
    assert alice.delete(f"/api/v1/tokens/{listed[0]['id']}/").status_code == 204
    answer = alice.get("/api/v1/projects/")
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"]
    assert AuditEvent.objects.filter(action="api_token_revoked", actor=shop["alice"]).exists()


def test_a_read_only_token_reads_but_never_writes(shop):
    client = token_client(_issue(shop["alice"], read_only=True))
    assert client.get("/api/v1/orders/").status_code == 200
    answer = order_via_api(client, shop, admit=False)
    assert answer.status_code == 403
    assert "read-only" in answer.json()["detail"]
    assert client.get("/api/v1/orders/").json()["count"] == 0  # alice sees her project's orders


def test_a_disabled_account_cannot_use_its_tokens(shop):
    client = token_client(_issue(shop["alice"]))
    shop["alice"].is_active = False
    shop["alice"].save()
    assert client.get("/api/v1/projects/").status_code == 401


def test_token_use_costs_one_query_and_at_most_one_write_a_minute(shop):
    client = token_client(_issue(shop["alice"]))
    client.get("/api/v1/notifications/")  # first use: records last_used_at
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/notifications/")
    token_queries = [q["sql"] for q in queries if ApiToken._meta.db_table in q["sql"]]
    assert len(token_queries) == 1 and token_queries[0].startswith("SELECT")
    ApiToken.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
    client.get("/api/v1/notifications/")
    assert ApiToken.objects.get().last_used_at > timezone.now() - timedelta(minutes=1)


def test_an_order_placed_with_a_token_names_the_token_in_the_audit_trail(shop, linux_vm):
    key = _issue(shop["alice"])
    answer = order_via_api(token_client(key), shop, admit=False)
    assert answer.status_code == 201, answer.content
    token = ApiToken.objects.get()
    events = AuditEvent.objects.filter(order_id=answer.data["id"])
    assert events and all(e.credential == f"API token #{token.pk} 'test'" for e in events)
    # The browser (a session, no token) leaves it empty, and nothing leaks to the next request.
    browser = Client()
    browser.force_login(shop["bob"])
    browser.get("/api/v1/orders/")
    assert (
        AuditEvent.objects.filter(credential="").count()
        == AuditEvent.objects.filter(order__isnull=True).count()
    )


def test_service_account_tokens_are_managed_by_organization_admins(shop, linux_vm, api_as):
    org_admin = admin_of(shop["web_shop"].organization, shop["carol"])
    admin = api_as(org_admin)
    created = admin.post(
        "/api/v1/service-accounts/", {"name": "ci", "project": shop["web_shop"].pk}
    )
    assert created.status_code == 201, created.content
    assert created.data["username"] == "svc-web-shop-ci"
    issued = admin.post(
        "/api/v1/tokens/", {"name": "deploy", "service_account": created.data["id"]}
    )
    assert issued.status_code == 201, issued.content
    assert issued.data["owner"] == "svc-web-shop-ci"

    # The pipeline orders in its project; the audit trail names the account and the token.
    pipeline = token_client(issued.data["token"])
    order = order_via_api(pipeline, shop, admit=False)
    assert order.status_code == 201, order.content
    event = AuditEvent.objects.filter(order_id=order.data["id"]).first()
    account = ServiceAccount.objects.get()
    assert event.actor == account.user
    assert event.credential == (f"API token #{issued.data['id']} 'deploy' of service account ci")

    # Members neither see nor manage service accounts.
    alice = api_as(shop["alice"])
    assert alice.get("/api/v1/service-accounts/").json()["count"] == 0
    refused = alice.post(
        "/api/v1/service-accounts/", {"name": "mine", "project": shop["web_shop"].pk}
    )
    assert refused.status_code == 400 and "project" in refused.json()
    assert (
        alice.post("/api/v1/tokens/", {"name": "x", "service_account": account.pk}).status_code
        == 400
    )

    # The admin lists the pipeline's tokens, and disabling the account stops them all.
    assert [t["name"] for t in admin.get("/api/v1/tokens/").json()["results"]] == ["deploy"]
    assert admin.delete(f"/api/v1/service-accounts/{account.pk}/").status_code == 204
    assert pipeline.get("/api/v1/projects/").status_code == 401
