"""An EC2 server's charts (the API's series, then the page) come from CloudWatch, at moto."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.tests.factories import OrganizationFactory
from provisioning.models import CloudAccount
from provisioning.tests.helpers import CLOUDWATCH, ec2_account, provisioned_server, put_load
from provisioning.tests.plans import EC2_SERVER

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


@pytest.fixture
def ec2(db, moto) -> CloudAccount:
    return ec2_account(OrganizationFactory(), moto, **CLOUDWATCH)


def test_ec2_server_charts_come_from_cloudwatch(ec2, moto, api_as, client):
    server = provisioned_server("charted", server=EC2_SERVER, cloud_account=ec2)
    alice = server.order.requester
    now = timezone.now()
    put_load(moto, [server.external_id], cpu=37.5, kbps=240, since=now - 2 * 60 * MINUTE, until=now)
    answer = api_as(alice).get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "1h"})
    points = answer.json()
    assert len(points) >= 11  # a point per 5 minutes of the hour
    assert {(p["cpu_percent"], p["network_kbps"]) for p in points} == {(37.5, 240.0)}
    client.force_login(alice)
    page = client.get(f"/resources/{server.pk}/metrics/?range=1h").content.decode()
    assert "<svg" in page and "No metrics" not in page
