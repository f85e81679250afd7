"""The cloud accounts API's connection test of an EC2 account, at moto and at an endpoint where
nothing listens."""

import pytest

from core.tests.factories import OrganizationFactory, admin_of
from provisioning.tests.helpers import ec2_account

pytestmark = pytest.mark.django_db


def test_test_connection_action_against_moto(moto, api_as):
    account = ec2_account(OrganizationFactory(), moto)
    client = api_as(admin_of(account.organization))
    assert client.post(f"/api/v1/cloud-accounts/{account.pk}/test/").data == {
        "ok": True,
        "problem": "",
    }
    account.endpoint_url = "http://127.0.0.1:9"
    account.save()
    answer = client.post(f"/api/v1/cloud-accounts/{account.pk}/test/").data
    assert answer["ok"] is False and "Cannot reach http://127.0.0.1:9" in answer["problem"]
