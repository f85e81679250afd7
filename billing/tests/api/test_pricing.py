"""No unpriced resources: an order or a quote of an item the card does not price is refused
with the reason."""

import pytest

from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_an_item_the_card_does_not_price_is_refused_with_the_reason(world, api_as):
    card = world["rate_card"]
    card.rates.filter(resource_kind="server", size="large").delete()
    answer = order_via_api(api_as(world["alice"]), world, admit=False, size="large")
    assert answer.status_code == 400
    message = " ".join(answer.data["parameters"])
    assert "no price for server size large" in message and "sandbox" in message
    quote = api_as(world["alice"]).post(
        "/api/v1/orders/quote/",
        {
            "item": "linux-vm",
            "project": world["web_shop"].pk,
            "parameters": {"name": "q", "size": "large"},
        },
        format="json",
    )
    assert quote.status_code == 400
