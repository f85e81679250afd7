"""Cloud accounts through the API: organization admins create and change them, their
credentials are encrypted and never shown, and a test connection says what failed."""

import pytest
from django.db import connection

from core.models import AuditEvent
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory, admin_of
from provisioning.models import CloudAccount
from provisioning.tests.factories import CloudAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    """An organization with a project and a sandbox account serving it."""
    organization = OrganizationFactory(slug="acme")
    CloudAccountFactory(organization=organization, name="sandbox")
    return organization


@pytest.fixture
def org_admin(acme):
    return admin_of(acme)


def test_org_admin_creates_an_account_whose_credentials_are_never_shown(acme, org_admin, api_as):
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
            "projects": [ProjectFactory(organization=acme).pk],
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


def test_bad_account_input_is_a_400_per_field(org_admin, api_as):
    answer = api_as(org_admin).post(
        "/api/v1/cloud-accounts/",
        {"name": "x", "organization": "acme", "provider": "nimbus", "credentials": "nope"},
        format="json",
    )
    assert answer.status_code == 400
    assert {"provider", "credentials"} <= set(answer.data)


def test_people_who_are_not_org_admins_see_no_accounts(acme, api_as):
    member = UserFactory()
    ProjectFactory(organization=acme, members=[member])
    client = api_as(member)
    assert client.get("/api/v1/cloud-accounts/").data["results"] == []
    answer = client.post(
        "/api/v1/cloud-accounts/",
        {"name": "mine", "organization": "acme", "provider": "sandbox"},
        format="json",
    )
    assert answer.status_code == 403


def test_test_connection_says_what_failed(org_admin, api_as):
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
