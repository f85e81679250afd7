"""Lifecycle's test helpers, shared by its tests and the end-to-end ones: an order carried
through its saga to completed, its server, and an organization-wide idle policy."""

from datetime import timedelta

from lifecycle.models import IdlePolicy
from lifecycle.services.reclaim import idle_policy_save
from provisioning.models import Resource
from provisioning.services import deployment_start
from tests.test_saga import approved_order, run_queued


def completed(demo, slug: str = "linux-vm", **parameters):
    order = approved_order(demo, slug, name=parameters.pop("name", "vm1"), **parameters)
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed"
    return order


def server_of(order) -> Resource:
    return order.resources.get(kind="server")


def idle_policy(demo, **waits) -> IdlePolicy:
    return idle_policy_save(
        user=None,
        organization=demo["web_shop"].organization,
        fields={
            "name": "Acme idle",
            "cpu_below_percent": 5,
            "network_below_kbps": 100,
            "window": timedelta(hours=1),
            **waits,
        },
    )


WAITS = {
    "notify_after": timedelta(0),
    "stop_after": timedelta(hours=2),
    "retire_after": timedelta(hours=3),
    "delete_after": timedelta(hours=4),
}
