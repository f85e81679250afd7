"""Savings by project (here by cost center) on the API, for who may see them; the costs page
shows them too."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from lifecycle.models import Lease, Saving
from lifecycle.services.leases import lease_process
from lifecycle.tests.helpers import (
    completed,
    server_of,
)

pytestmark = pytest.mark.django_db


def test_savings_are_reported_by_project_and_on_the_api(shop, api_as, client):
    order = completed(shop)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    lease_process(now=lease.expires_at)
    saving = Saving.objects.get(resource=server)
    # the saving started at the (future) expiry: pretend it started 10 hours ago
    Saving.objects.filter(pk=saving.pk).update(started_at=timezone.now() - timedelta(hours=10))
    answer = api_as(shop["carol"]).get("/api/v1/savings/", {"group_by": "cost_center"})
    assert answer.status_code == 200
    row = answer.data["rows"][0]
    assert row["key"] == "CC-100"
    expected = saving.hourly * 10
    assert abs(Decimal(row["amount"]) - expected) <= Decimal("0.01")
    assert Decimal(answer.data["total"]) == Decimal(row["amount"])
    # dave (data-lab) sees none of web-shop's savings
    assert api_as(shop["dave"]).get("/api/v1/savings/").data["rows"] == []
    client.force_login(shop["carol"])
    page = client.get("/costs/")
    assert page.status_code == 200 and b"Savings" in page.content
