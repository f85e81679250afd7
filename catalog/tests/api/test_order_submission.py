"""The order request: a quota it would break is refused at once, with the reason; its SQL stays
within a fixed number of queries."""

import pytest

from approvals.models import Quota
from catalog.models import Order
from tests.fixtures import order_via_api


@pytest.mark.django_db
def test_the_quota_message_at_submission_is_immediate(world, api_as):
    Quota.objects.update_or_create(project=world["web_shop"], defaults={"max_servers": 0})
    refused = order_via_api(api_as(world["alice"]), world, admit=False)
    assert refused.status_code == 400
    assert refused.json() == {
        "quota": ["Over the server quota of web-shop: this needs 1, 0 of 0 are already taken."]
    }
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_an_order_request_runs_a_constant_number_of_queries(world, api_as, query_baseline):
    """The SQL of one order request once the caller is authenticated (a token lookup adds one):
    the permission, whether the project already uses the order's names (one statement), and
    the lock-free pre-check (quotas with their ledger sums and whether a budget refuses orders,
    one statement), then the order and its audit row in one transaction (here a savepoint: two
    statements more): 7 when pinned first, 8 since pending orders hold their names. The item,
    the project, its accounts and the rate card come from catalog.order_config once warm. None
    depends on the order's size or on how many orders exist."""
    alice = api_as(world["alice"])
    for index in range(3):  # orders in the ledger must not change the count
        assert order_via_api(alice, world, name=f"warm-{index}").status_code == 201
    with query_baseline("catalog.order_request"):
        answer = order_via_api(alice, world, admit=False, name="web-2", size="large")
    assert answer.status_code == 201, answer.content
