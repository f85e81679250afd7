"""The sandbox's simulated metrics and the `resource_metrics` selector: deterministic series per
load profile, a group's average over its servers, stopped servers at 0 %."""

from datetime import timedelta
from statistics import mean

import pytest

from provisioning.providers.base import MetricPoint
from provisioning.selectors import (
    metric_average,
    resource_metrics,
    servers_metric_means,
    servers_metrics,
)
from provisioning.services.day2 import resource_action_request
from provisioning.services.simulation import simulated_load_set
from provisioning.tests.helpers import UNTIL, autoscaling_group, cpu, series, web_tier_servers
from provisioning.tests.saga import run_queued

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


@pytest.fixture
def web_tier(db):
    return web_tier_servers()


@pytest.fixture
def group(db):
    return autoscaling_group()


def test_a_series_is_deterministic_and_aligned_to_the_step(web_tier):
    server = web_tier[0]
    points = series(server)
    assert len(points) == 12
    assert [p.at for p in points] == [UNTIL - HOUR + i * timedelta(minutes=5) for i in range(12)]
    assert series(server) == points  # a second read agrees
    other = series(web_tier[1])
    assert cpu(other) != cpu(points)  # the noise is per server
    assert all(0 <= p.cpu_percent <= 100 and p.network_kbps >= 0 for p in points + other)
    # A shifted, unaligned window returns the same points where they overlap.
    shifted = resource_metrics(
        resource=server,
        since=UNTIL - HOUR + timedelta(minutes=7),
        until=UNTIL + timedelta(minutes=3),
        step=timedelta(minutes=5),
    )
    assert shifted[: len(points) - 2] == points[2:]


def test_profiles_busy_idle_number_and_wave(web_tier):
    busy_server, other = web_tier
    busy = cpu(series(busy_server, hours=24))  # the default profile
    assert 25 < mean(busy) < 65 and max(busy) - min(busy) > 20  # a daily swing

    simulated_load_set(resource=busy_server, load="idle")
    idle = series(busy_server, hours=24)
    assert max(cpu(idle)) < 5
    assert mean(p.network_kbps for p in idle) < mean(p * 12 for p in busy) / 5

    simulated_load_set(resource=busy_server, load=80)
    held = cpu(series(busy_server, hours=6))
    assert all(75 <= value <= 85 for value in held) and abs(mean(held) - 80) < 2
    assert max(cpu(series(other, hours=6))) < 75  # the other server keeps its own profile

    simulated_load_set(resource=busy_server, load="wave:10")
    wave = series(busy_server, hours=1, step=timedelta(minutes=1))
    # High for the first 5 minutes of every 10, low for the other 5 (the period is in epoch time).
    for point in wave:
        high = point.at.minute % 10 < 5
        assert (point.cpu_percent >= 70) if high else (point.cpu_percent <= 30), point


def test_a_stopped_server_reports_zero(web_tier):
    server = web_tier[0]
    resource_action_request(user=server.order.requester, resource_id=server.pk, action="stop")
    run_queued()
    points = series(server)
    assert len(points) == 12
    assert {(p.cpu_percent, p.network_kbps) for p in points} == {(0.0, 0.0)}


def test_a_group_averages_its_servers_and_its_load_reaches_future_servers(group):
    simulated_load_set(resource=group, load=90)
    servers = list(group.children.filter(state="active"))
    per_server = [series(server) for server in servers]
    averaged = series(group)
    assert [p.at for p in averaged] == [p.at for p in per_server[0]]
    for i, point in enumerate(averaged):
        expected = mean(points[i].cpu_percent for points in per_server)
        assert point.cpu_percent == pytest.approx(expected, abs=0.06)
    assert all(80 <= value <= 100 for value in cpu(averaged))

    resource_action_request(
        user=group.order.requester,
        resource_id=group.pk,
        action="set_desired",
        params={"desired": 3},
    )
    run_queued()
    newcomer = group.children.filter(state="active").order_by("id").last()
    assert newcomer not in servers
    assert all(80 <= value <= 100 for value in cpu(series(newcomer)))

    simulated_load_set(resource=newcomer, load="idle")  # one server's own profile wins
    assert max(cpu(series(newcomer))) < 5
    simulated_load_set(resource=group, load=20)  # setting the group again covers every server
    assert all(10 <= value <= 30 for value in cpu(series(newcomer)))


def test_kinds_and_states_without_metrics(group):
    order = group.order
    balancer = order.resources.get(kind="load_balancer")
    assert series(balancer) == []
    resource_action_request(user=order.requester, resource_id=group.pk, action="destroy")
    run_queued()
    assert series(group) == []
    assert all(series(server) == [] for server in group.children.all())


def test_metric_average_is_the_mean_of_cpu_and_network():
    assert metric_average([]) is None
    points = [MetricPoint(at=UNTIL, cpu_percent=c, network_kbps=n) for c, n in [(10, 1), (25, 4)]]
    assert metric_average(points) == (17.5, 2.5)


def test_the_means_are_those_of_the_series(web_tier):
    """What idle reclaim judges on (the source's means) is what the charts show (the mean of the
    series), stopped servers included."""
    stopped = web_tier[1]
    resource_action_request(user=stopped.order.requester, resource_id=stopped.pk, action="stop")
    run_queued()
    servers = list(web_tier.select_related("cloud_account"))
    window = {"since": UNTIL - HOUR, "until": UNTIL, "step": timedelta(minutes=5)}
    points = servers_metrics(servers=servers, **window)
    means = servers_metric_means(servers=servers, **window)
    assert set(means) == set(points) == {s.pk for s in servers}
    for pk, server_mean in means.items():
        assert (server_mean.cpu_percent, server_mean.network_kbps) == metric_average(points[pk])
        assert server_mean.points == len(points[pk]) == 12
    assert means[web_tier[1].pk].cpu_percent == 0  # stopped
