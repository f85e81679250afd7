"""Autoscaling's test helpers (their fixtures: conftest.py): a group behind its load balancer,
deployed by the saga played in the test process; its running servers and its load balancer's
members (the two must agree whenever no saga runs); and the CPU policy the tests scale by."""

from datetime import timedelta

from autoscaling.selectors import group_size
from catalog.tests.saga import approved_order, run_queued
from provisioning.models import Resource, SandboxObject
from provisioning.services.saga import deployment_start

MINUTE = timedelta(minutes=1)
POLICY = {
    "metric": "cpu",
    "scale_out_threshold": 70,
    "scale_out_window": 3,
    "scale_in_threshold": 30,
    "scale_in_window": 4,
    "step": 1,
    "cooldown": 5,
}


def active_servers(group: Resource) -> set[str]:
    return set(group.children.filter(state="active").values_list("external_id", flat=True))


def balancer_members(group: Resource) -> set[str]:
    balancer = group.order.resources.get(kind="load_balancer")
    cloud = SandboxObject.objects.get(external_id=balancer.external_id)
    return {member["id"] for member in cloud.attributes["members"]}


def scaling_group(shop: dict) -> Resource:
    """shop-web: 1 server (min 1, max 4) behind shop-lb."""
    order = approved_order(shop, "autoscaling-web-tier", name="shop", instances=1, max_instances=4)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="autoscaling_group")


def settle_and_check(group: Resource) -> None:
    """Run the scaling saga to its end; the members must then be exactly the active servers."""
    run_queued()
    group.refresh_from_db()
    assert group.state == "active"
    assert balancer_members(group) == active_servers(group)
    assert len(active_servers(group)) == group_size(group=group) == group.properties["desired"]
