"""A resource's charts (the page's partial, then the API) are asked for a range they know."""

import pytest

from provisioning.tests.helpers import autoscaling_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(db):
    return autoscaling_group()


def test_an_unknown_range_is_refused_naming_the_valid_ones(group, client, api_as):
    server = group.children.filter(state="active").first()
    client.force_login(group.order.requester)
    partial = client.get(f"/resources/{server.pk}/metrics/?range=7d")
    assert partial.status_code == 400
    assert "Choose one of: 1h, 24h." in partial.content.decode()
    assert client.get(f"/resources/{server.pk}/metrics/?range=24h").status_code == 200

    alice = api_as(group.order.requester)
    answer = alice.get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "7d"})
    assert answer.status_code == 400
    assert answer.json() == {"range": ["Choose one of: 1h, 24h."]}
    day = alice.get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "24h"}).json()
    assert len(day) == 24 * 4  # the day's chart: one point per 15 minutes
    balancer = group.order.resources.get(kind="load_balancer")
    page = client.get(f"/resources/{balancer.pk}/metrics/").content.decode()
    assert "A load_balancer reports no metrics." in page
