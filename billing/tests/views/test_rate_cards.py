"""The rate card's admin page: the price history read-only, a typo refused."""

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Rate

pytestmark = pytest.mark.django_db


def test_the_admin_shows_the_price_history_and_refuses_a_typo(world, client):
    card = world["rate_card"]
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.025"),
        effective_from=timezone.now().date(),
    )
    client.force_login(world["admin"])
    page = client.get(f"/admin/billing/ratecard/{card.pk}/change/").content.decode()
    assert "0.025" in page and "0.02000" in page  # both versions, read-only
    form = {
        "name": card.name, "organization": card.organization_id, "currency": "USD",
        "rates-TOTAL_FORMS": "1", "rates-INITIAL_FORMS": "0",
        "rates-0-resource_kind": "servr", "rates-0-size": "", "rates-0-unit": "hour",
        "rates-0-price": "1", "rates-0-effective_from": f"{timezone.now().date()}",
    }  # fmt: skip
    answer = client.post(f"/admin/billing/ratecard/{card.pk}/change/", form)
    assert answer.status_code == 200 and "Choose one of: server" in answer.content.decode()
    assert not Rate.objects.filter(resource_kind="servr").exists()
