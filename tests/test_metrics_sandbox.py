"""The sandbox's simulated metrics and the `resource_metrics` selector: deterministic series per
load profile, a group's average over its servers, stopped servers at 0 %, the load knob."""

from datetime import UTC, datetime, timedelta
from statistics import mean

import pytest
from django.core.exceptions import ValidationError

from provisioning.models import CloudAccount
from provisioning.selectors import (
    metric_average,
    resource_metrics,
    servers_metric_means,
    servers_metrics,
)
from provisioning.services.day2 import resource_action_request
from provisioning.services.saga import deployment_start
from provisioning.services.simulation import simulated_load_set
from tests.saga import approved_order, run_queued

pytestmark = pytest.mark.django_db

UNTIL = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def series(resource, *, hours: float = 1, step: timedelta = timedelta(minutes=5)):
    resource.refresh_from_db()
    resource.cloud_account.refresh_from_db()  # the load knob lives on the account's options
    since = UNTIL - hours * HOUR
    return resource_metrics(resource=resource, since=since, until=UNTIL, step=step)


def cpu(points) -> list[float]:
    return [p.cpu_percent for p in points]


@pytest.fixture
def web_tier(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    return order.resources.filter(kind="server").order_by("id")


@pytest.fixture
def group(demo):
    order = approved_order(demo, "autoscaling-web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="autoscaling_group")


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


def test_a_stopped_server_reports_zero(demo, web_tier):
    server = web_tier[0]
    resource_action_request(user=demo["alice"], resource_id=server.pk, action="stop")
    run_queued()
    points = series(server)
    assert len(points) == 12
    assert {(p.cpu_percent, p.network_kbps) for p in points} == {(0.0, 0.0)}


def test_a_group_averages_its_servers_and_its_load_reaches_future_servers(demo, group):
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
        user=demo["alice"], resource_id=group.pk, action="set_desired", params={"desired": 3}
    )
    run_queued()
    newcomer = group.children.filter(state="active").order_by("id").last()
    assert newcomer not in servers
    assert all(80 <= value <= 100 for value in cpu(series(newcomer)))

    simulated_load_set(resource=newcomer, load="idle")  # one server's own profile wins
    assert max(cpu(series(newcomer))) < 5
    simulated_load_set(resource=group, load=20)  # setting the group again covers every server
    assert all(10 <= value <= 30 for value in cpu(series(newcomer)))


def test_kinds_and_states_without_metrics(demo, group):
    order = group.order
    balancer = order.resources.get(kind="load_balancer")
    assert series(balancer) == []
    resource_action_request(user=demo["alice"], resource_id=group.pk, action="destroy")
    run_queued()
    assert series(group) == []
    assert all(series(server) == [] for server in group.children.all())


def test_the_load_knob_checks_its_input(group):
    balancer = group.order.resources.get(kind="load_balancer")
    with pytest.raises(ValidationError, match="no load"):
        simulated_load_set(resource=balancer, load="busy")
    for wrong in ("frantic", 140, "wave:0", "wave:x"):
        with pytest.raises(ValidationError):
            simulated_load_set(resource=group, load=wrong)
    CloudAccount.objects.filter(pk=group.cloud_account_id).update(provider="ec2")
    group.refresh_from_db()
    with pytest.raises(ValidationError, match="Only sandbox"):
        simulated_load_set(resource=group, load="idle")


def test_metric_average_is_the_mean_of_cpu_and_network():
    from provisioning.providers.base import MetricPoint

    assert metric_average([]) is None
    points = [MetricPoint(at=UNTIL, cpu_percent=c, network_kbps=n) for c, n in [(10, 1), (25, 4)]]
    assert metric_average(points) == (17.5, 2.5)


def test_group_series_and_current_load_share_the_average(demo, group):
    from autoscaling.selectors import current_load

    servers = list(group.children.filter(state="active"))
    minute = timedelta(minutes=1)
    per_server = [series(server, hours=5 / 60, step=minute) for server in servers]
    assert [p.cpu_percent for p in series(group, hours=5 / 60, step=minute)] == [
        round(mean(values), 1) for values in zip(*map(cpu, per_server), strict=True)
    ]
    load = current_load(group=group, now=UNTIL)
    assert load["cpu"] == round(mean(cpu(series(group, hours=5 / 60, step=minute))), 1)


def test_an_unknown_range_is_refused_naming_the_valid_ones(demo, group, client, api_as):
    server = group.children.filter(state="active").first()
    client.force_login(demo["alice"])
    partial = client.get(f"/resources/{server.pk}/metrics/?range=7d")
    assert partial.status_code == 400
    assert "Choose one of: 1h, 24h." in partial.content.decode()
    assert client.get(f"/resources/{server.pk}/metrics/?range=24h").status_code == 200

    alice = api_as(demo["alice"])
    answer = alice.get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "7d"})
    assert answer.status_code == 400
    assert answer.json() == {"range": ["Choose one of: 1h, 24h."]}
    day = alice.get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "24h"}).json()
    assert len(day) == 24 * 4  # the day's chart: one point per 15 minutes
    balancer = group.order.resources.get(kind="load_balancer")
    page = client.get(f"/resources/{balancer.pk}/metrics/").content.decode()
    assert "A load_balancer reports no metrics." in page


def test_the_means_are_those_of_the_series(demo, web_tier):
    """What idle reclaim judges on (the source's means) is what the charts show (the mean of the
    series), stopped servers included."""
    resource_action_request(user=demo["alice"], resource_id=web_tier[1].pk, action="stop")
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
