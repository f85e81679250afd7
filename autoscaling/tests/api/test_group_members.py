"""Destroying a group's member (over the API or its page) lowers `desired`, down to the
group's minimum."""

import pytest

from autoscaling.tests.helpers import (
    active_servers,
    scaling_group,
    settle_and_check,
)
from catalog.models import Order
from catalog.tests.saga import admit_and_deploy
from provisioning.services.day2 import resource_action_request

pytestmark = pytest.mark.django_db


def test_destroying_a_member_lowers_desired_down_to_the_minimum(shop, api_as, client):
    """AWS's "terminate instance and decrement desired capacity": the group shrinks by the
    destroyed server and does not bring it back; below `min` the request is refused."""
    group = scaling_group(shop)
    resource_action_request(
        user=shop["alice"], resource_id=group.pk, action="set_desired", params={"desired": 3}
    )
    settle_and_check(group)
    first, second, third = group.children.filter(state="active").order_by("id")
    alice = api_as(shop["alice"])

    answer = alice.post(f"/api/v1/resources/{second.pk}/actions/", {"action": "destroy"})
    assert answer.status_code == 202, answer.json()
    admit_and_deploy(answer.data["id"])  # a destroy order: "Deletions" approves it at once
    group.refresh_from_db()
    assert group.state == "updating"
    again = alice.post(f"/api/v1/resources/{second.pk}/actions/", {"action": "destroy"})
    assert again.status_code == 400  # one request, one decrement
    settle_and_check(group)
    second.refresh_from_db()
    assert second.state == "deleted" and group.properties["desired"] == 2
    assert active_servers(group) == {first.external_id, third.external_id}

    client.force_login(shop["alice"])
    page = client.post(
        f"/orders/changes/resources/{third.pk}/",
        {"action": "destroy", "confirm": "1"},
        follow=True,
    )
    assert page.status_code == 200
    admit_and_deploy(Order.objects.get(kind="destroy", resource=third).pk)
    settle_and_check(group)
    assert group.properties["desired"] == 1

    refused = alice.post(f"/api/v1/resources/{first.pk}/actions/", {"action": "destroy"})
    assert refused.status_code == 400
    assert "below its minimum of 1" in refused.json()["action"][0]
    first.refresh_from_db()
    group.refresh_from_db()
    assert (first.state, group.state, group.properties["desired"]) == ("active", "active", 1)
    page = client.post(f"/orders/changes/resources/{first.pk}/", {"action": "destroy"}, follow=True)
    assert "below its minimum of 1" in page.content.decode()
