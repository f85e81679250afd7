"""Cloud accounts (API, encryption, test connection), options and capabilities, and the
reconciler comparing each account's tagged objects with the database."""

import pytest
from django.db import connection

from core.models import AuditEvent, Organization, OrganizationRole
from core.services import organization_membership_add
from provisioning.models import CloudAccount, Resource, SandboxObject, UnknownObject
from provisioning.providers import REGISTRY, get_adapter
from provisioning.selectors import (
    account_supports,
    cloud_account_options,
    size_info,
)
from provisioning.services import deployment_start, reconcile_accounts
from tests.test_saga import approved_order, run_queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def org_admin(demo):
    organization_membership_add(
        user=demo["dave"],
        organization=Organization.objects.get(slug="acme"),
        role=OrganizationRole.ADMIN,
    )
    return demo["dave"]


def test_org_admin_creates_an_account_whose_credentials_are_never_shown(demo, org_admin, api_as):
    client = api_as(org_admin)
    answer = client.post(
        "/api/v1/cloud-accounts/",
        {
            "name": "aws-prod",
            "organization": "acme",
            "provider": "ec2",
            "region": "eu-west-1",
            "endpoint_url": "https://ec2.example.com",
            "credentials": {"access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-value"},
            "projects": [demo["web_shop"].pk],
        },
        format="json",
    )
    assert answer.status_code == 201, answer.data
    assert "credentials" not in answer.data and answer.data["has_credentials"] is True
    account = CloudAccount.objects.get(name="aws-prod")
    assert account.credentials == {"access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t-value"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials_encrypted FROM provisioning_cloudaccount WHERE id = %s",
            [account.pk],
        )
        assert "s3cr3t-value" not in cursor.fetchone()[0]
    listed = client.get("/api/v1/cloud-accounts/").content.decode()
    assert "s3cr3t-value" not in listed and "aws-prod" in listed
    assert not AuditEvent.objects.filter(message__contains="s3cr3t").exists()

    patched = client.patch(
        f"/api/v1/cloud-accounts/{account.pk}/", {"region": "us-east-1"}, format="json"
    )
    assert patched.status_code == 200 and patched.data["region"] == "us-east-1"
    account.refresh_from_db()
    assert account.credentials["secret_key"] == "s3cr3t-value"  # kept when not sent


def test_bad_account_input_is_a_400_per_field(demo, org_admin, api_as):
    answer = api_as(org_admin).post(
        "/api/v1/cloud-accounts/",
        {"name": "x", "organization": "acme", "provider": "nimbus", "credentials": "nope"},
        format="json",
    )
    assert answer.status_code == 400
    assert {"provider", "credentials"} <= set(answer.data)


def test_people_who_are_not_org_admins_see_no_accounts(demo, api_as):
    client = api_as(demo["alice"])
    assert client.get("/api/v1/cloud-accounts/").data["results"] == []
    answer = client.post(
        "/api/v1/cloud-accounts/",
        {"name": "mine", "organization": "acme", "provider": "sandbox"},
        format="json",
    )
    assert answer.status_code == 403


def test_test_connection_says_what_failed(demo, org_admin, api_as):
    account = CloudAccount.objects.get(name="sandbox")
    client = api_as(org_admin)
    assert client.post(f"/api/v1/cloud-accounts/{account.pk}/test/").data == {
        "ok": True,
        "problem": "",
    }
    account.options = {"fail_connection": "AuthFailure: the access key is not valid"}
    account.save()
    answer = client.post(f"/api/v1/cloud-accounts/{account.pk}/test/").data
    assert answer == {"ok": False, "problem": "AuthFailure: the access key is not valid"}


def test_options_sizes_and_capabilities(demo, monkeypatch):
    account = CloudAccount.objects.get(name="sandbox")
    options = cloud_account_options(account=account)
    assert [s.id for s in options["sizes"]] == ["small", "medium", "large"]
    assert options["locations"] and options["images"]
    assert size_info(account=account, size="medium").vcpus == 2
    assert size_info(account=account, size="huge") is None
    assert account_supports(account=account, kinds={"database", "autoscaling_group", "dns_record"})
    assert not account_supports(account=account, kinds={"quantum_computer"})
    monkeypatch.delitem(REGISTRY, "sandbox")  # no adapter installed for the provider
    assert not account_supports(account=account, kinds={"server"})


def test_capability_page_is_for_admins(demo, client):
    client.force_login(demo["admin"])
    page = client.get("/resources/capabilities/")
    assert page.status_code == 200
    assert b'data-testid="capabilities-sandbox"' in page.content
    client.force_login(demo["alice"])
    assert client.get("/resources/capabilities/").status_code == 403


def test_reconciler_marks_missing_and_reports_unknown_objects(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    server = order.resources.get(kind="server")
    SandboxObject.objects.filter(external_id=server.external_id).delete()  # deleted by hand
    account = server.cloud_account
    stray = get_adapter(account).create("network", "canopy-999999", {"cidr": "10.9.0.0/16"})

    assert reconcile_accounts() == {"missing": 1, "drift": 0, "unknown": 1, "unreachable": 0}
    assert Resource.objects.get(pk=server.pk).state == "missing"
    # Gone at the provider means no longer charged: metering stops at a deleted event.
    assert server.events.order_by("at").last().kind == "deleted"
    unknown = UnknownObject.objects.get()
    assert (unknown.external_id, unknown.name) == (stray.external_id, "canopy-999999")
    assert AuditEvent.objects.filter(action="provider.unknown_object").count() == 1

    reconcile_accounts()  # reported once, not on every run
    assert AuditEvent.objects.filter(action="provider.unknown_object").count() == 1
    get_adapter(account).delete("network", stray.external_id)
    reconcile_accounts()
    assert not UnknownObject.objects.exists()


def test_admin_sets_credentials_write_only_and_tests_the_connection(demo, client):
    client.force_login(demo["admin"])
    account = CloudAccount.objects.get(name="sandbox")
    form = client.get(f"/admin/provisioning/cloudaccount/{account.pk}/change/")
    assert form.status_code == 200
    answer = client.post(
        f"/admin/provisioning/cloudaccount/{account.pk}/change/",
        {
            "name": "sandbox",
            "organization": account.organization_id,
            "provider": "sandbox",
            "region": "",
            "endpoint_url": "",
            "options": '{"fail_connection": "AuthFailure: bad key"}',
            "projects": [demo["web_shop"].pk],
            "new_credentials": '{"token": "hidden-token-value"}',
        },
    )
    assert answer.status_code == 302
    account.refresh_from_db()
    assert account.credentials == {"token": "hidden-token-value"}
    page = client.get(f"/admin/provisioning/cloudaccount/{account.pk}/change/")
    assert "hidden-token-value" not in page.content.decode()
    tested = client.post(
        "/admin/provisioning/cloudaccount/",
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "AuthFailure: bad key" in tested.content.decode()


def test_admin_writes_go_through_the_services(demo, client):
    """Add, change and delete in the admin: encrypted credentials, audited by whom and what,
    and the account's cached options follow."""
    from django.core.cache import cache

    from provisioning.selectors import options_cache_key

    admin_user = demo["admin"]
    client.force_login(admin_user)
    organization = Organization.objects.get(slug="acme")
    fields = {
        "name": "aws-admin",
        "organization": organization.pk,
        "provider": "ec2",
        "region": "eu-west-1",
        "endpoint_url": "https://ec2.example.com",
        "options": "{}",
        "projects": [demo["web_shop"].pk],
        "new_credentials": '{"access_key": "AKIA", "secret_key": "admin-secret"}',
    }
    added = client.post("/admin/provisioning/cloudaccount/add/", fields)
    assert added.status_code == 302
    account = CloudAccount.objects.get(name="aws-admin")
    assert account.credentials == {"access_key": "AKIA", "secret_key": "admin-secret"}
    assert "admin-secret" not in account.credentials_encrypted
    assert list(account.projects.all()) == [demo["web_shop"]]
    created = AuditEvent.objects.get(action="cloud_account.created", target_id=str(account.pk))
    assert created.actor == admin_user

    cache.set(options_cache_key(account.pk), {"sizes": ["stale"]})
    changed = client.post(
        f"/admin/provisioning/cloudaccount/{account.pk}/change/",
        {**fields, "region": "us-east-1", "new_credentials": ""},
    )
    assert changed.status_code == 302
    account.refresh_from_db()
    assert account.region == "us-east-1" and account.credentials["secret_key"] == "admin-secret"
    updated = AuditEvent.objects.get(action="cloud_account.updated", target_id=str(account.pk))
    assert (updated.actor, updated.message) == (admin_user, "region")
    assert cache.get(options_cache_key(account.pk)) is None
    assert not AuditEvent.objects.filter(message__contains="admin-secret").exists()

    cache.set(options_cache_key(account.pk), {"sizes": ["stale"]})
    deleted = client.post(f"/admin/provisioning/cloudaccount/{account.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not CloudAccount.objects.filter(pk=account.pk).exists()
    gone = AuditEvent.objects.get(action="cloud_account.deleted", target_id=str(account.pk))
    assert gone.actor == admin_user
    assert cache.get(options_cache_key(account.pk)) is None


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("projects", "Not in Other org: web-shop."),
        ("new_credentials", "An object of text values is expected."),
    ],
)
def test_admin_shows_the_services_messages_on_bad_input(demo, client, field, message):
    client.force_login(demo["admin"])
    other = Organization.objects.create(name="Other org", slug="other-org")
    bad = {"projects": [demo["web_shop"].pk], "new_credentials": "[1, 2]"}[field]
    answer = client.post(
        "/admin/provisioning/cloudaccount/add/",
        {"name": "other-cloud", "organization": other.pk, "provider": "sandbox", field: bad},
    )
    assert answer.status_code == 200  # the form again, with the message
    assert answer.context["adminform"].form.errors[field] == [message]
    assert not CloudAccount.objects.filter(name="other-cloud").exists()


def test_a_new_account_is_not_served_options_cached_under_its_id(demo):
    """SQLite, the embedded mode, gives a new row the id of the last one deleted: options cached
    for that one must not reach the new account, however the row is written."""
    import time

    from django.core.cache import cache

    from provisioning.selectors import options_cache_key

    reused_id = CloudAccount.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
    fresh = {"fetched_at": time.time(), "sizes": ["t3.micro"], "images": [], "locations": []}
    cache.set(options_cache_key(reused_id), fresh)
    account = CloudAccount.objects.create(
        pk=reused_id, name="fresh", organization=demo["web_shop"].organization, provider="sandbox"
    )
    sizes = [size.id for size in cloud_account_options(account=account)["sizes"]]
    assert sizes and "t3.micro" not in sizes
