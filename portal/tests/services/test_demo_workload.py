"""The shell's demo workloads (`portal/demo_workload.py`, run by `seed_demo` for `make run`): a
lease running out and an idle server reclaimed in data-lab, a waving autoscaling group in
web-shop, each seeded once and again only when the earlier one is over."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from autoscaling.models import ScalingPolicy
from autoscaling.selectors import group_size
from autoscaling.services import evaluate
from autoscaling.tests.helpers import active_servers, balancer_members
from catalog.models import Order
from catalog.tests.saga import run_queued
from lifecycle.models import Grade, Lease
from lifecycle.services.tick import lifecycle_tick
from portal.demo_workload import DEMO_LEASE_MINUTES, autoscaling_demo_seed, lifecycle_demo_seed
from provisioning.models import Resource

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


@override_settings(CANOPY_DEMO_WORKLOAD=True)
def test_demo_seed_shows_a_lease_running_out_and_an_idle_server_reclaimed(demo):
    lifecycle_demo_seed()
    lifecycle_demo_seed()  # idempotent: the orders are in flight
    orders = {o.parameters["name"]: o for o in Order.objects.filter(project=demo["data_lab"])}
    assert set(orders) == {"lease-demo", "idle-demo"}
    run_queued()
    lease = Lease.objects.get(order=orders["lease-demo"])
    start = timezone.now()
    assert lease.expires_at - start < timedelta(minutes=DEMO_LEASE_MINUTES)
    ticks = []
    for minute in range(12):  # beat's ticks, with the worker running what they asked for
        ticks.append(lifecycle_tick(now=start + timedelta(minutes=minute)))
        run_queued()
    assert ticks[0]["leases"] == {"warned": 1}
    lease.refresh_from_db()
    assert lease.state == "retired"
    grades = [grade for tick in ticks for grade in tick["reclaim"] if grade in Grade.values]
    assert grades == ["notified", "stopped", "retired", "deleted"]
    idle = orders["idle-demo"].resources.get(kind="server")
    idle.refresh_from_db()
    assert idle.state == "deleted"
    lifecycle_demo_seed()  # the idle demo is over: seeding again starts a new one
    assert Order.objects.filter(project=demo["data_lab"], parameters__name="idle-demo").count() == 2


@override_settings(CANOPY_DEMO_WORKLOAD=True)
def test_demo_seed_builds_a_waving_group_once(demo):
    autoscaling_demo_seed()
    autoscaling_demo_seed()  # idempotent
    [group] = Resource.objects.filter(kind="autoscaling_group")
    assert group.order.status in ("approved", "provisioning")
    run_queued()
    group.refresh_from_db()
    assert group.state == "active"
    assert ScalingPolicy.objects.filter(group=group).count() == 1
    # The wave: high for 10 minutes, low for 10; evaluated every minute like beat does.
    start = datetime(2030, 3, 6, 12, 0, tzinfo=UTC)  # a wave period starts on the hour
    sizes = []
    for minute in range(20):
        evaluate(now=start + minute * MINUTE)
        run_queued()
        sizes.append(group_size(group=group))
        assert balancer_members(group) == active_servers(group)
    assert max(sizes) == group.properties["max"] and sizes[-1] < max(sizes)
    autoscaling_demo_seed()
    assert Resource.objects.filter(kind="autoscaling_group").count() == 1
