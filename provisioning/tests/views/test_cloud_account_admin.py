"""Cloud accounts in the admin (credentials write-only, writes through the services, their
messages on bad input) and the capability page, for admins only."""

import pytest
from django.core.cache import cache

from core.models import AuditEvent
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from provisioning.models import CloudAccount
from provisioning.selectors import options_cache_key
from provisioning.tests.factories import CloudAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


def test_capability_page_is_for_admins(superuser, client):
    client.force_login(superuser)
    page = client.get("/resources/capabilities/")
    assert page.status_code == 200
    assert b'data-testid="capabilities-sandbox"' in page.content
    client.force_login(UserFactory())  # a member of a project, not an admin
    assert client.get("/resources/capabilities/").status_code == 403


def test_admin_sets_credentials_write_only_and_tests_the_connection(superuser, client):
    client.force_login(superuser)
    account = CloudAccountFactory(name="sandbox")
    project = ProjectFactory(organization=account.organization)
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
            "projects": [project.pk],
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


def test_admin_writes_go_through_the_services(superuser, client):
    """Add, change and delete in the admin: encrypted credentials, audited by whom and what,
    and the account's cached options follow."""
    admin_user = superuser
    client.force_login(admin_user)
    organization = OrganizationFactory()
    project = ProjectFactory(organization=organization)
    fields = {
        "name": "aws-admin",
        "organization": organization.pk,
        "provider": "ec2",
        "region": "eu-west-1",
        "endpoint_url": "https://ec2.example.com",
        "options": "{}",
        "projects": [project.pk],
        "new_credentials": '{"access_key": "AKIA", "secret_key": "admin-secret"}',
    }
    added = client.post("/admin/provisioning/cloudaccount/add/", fields)
    assert added.status_code == 302
    account = CloudAccount.objects.get(name="aws-admin")
    assert account.credentials == {"access_key": "AKIA", "secret_key": "admin-secret"}
    assert "admin-secret" not in account.credentials_encrypted
    assert list(account.projects.all()) == [project]
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
def test_admin_shows_the_services_messages_on_bad_input(superuser, client, field, message):
    client.force_login(superuser)
    other = OrganizationFactory(name="Other org", slug="other-org")
    web_shop = ProjectFactory(name="web-shop")  # of an organization of its own
    bad = {"projects": [web_shop.pk], "new_credentials": "[1, 2]"}[field]
    answer = client.post(
        "/admin/provisioning/cloudaccount/add/",
        {"name": "other-cloud", "organization": other.pk, "provider": "sandbox", field: bad},
    )
    assert answer.status_code == 200  # the form again, with the message
    assert answer.context["adminform"].form.errors[field] == [message]
    assert not CloudAccount.objects.filter(name="other-cloud").exists()
