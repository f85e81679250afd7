"""Metrics from where clouds keep them, behind one batch interface: CloudWatch at moto for the EC2
servers Canopy created (charts, idle reclaim through the grades, an autoscaling group out and in)
and a real Prometheus scraping node_exporter-style counters (charts and idle reclaim of servers
whose account names it as their source).

The sagas run in the test process, as in tests/test_saga.py; `now` moves ahead of the clock
where the test put CloudWatch datapoints for those instants."""

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from autoscaling.selectors import group_size
from autoscaling.services import evaluate, policy_save
from catalog.models import CatalogItem, Order
from catalog.selectors.menu import resolve_resources
from lifecycle.models import ReclaimCase
from lifecycle.services.reclaim import idle_policy_save, reclaim_evaluate
from provisioning.models import CloudAccount, Resource
from provisioning.providers import ProviderError
from provisioning.providers.metrics import PrometheusMetrics, metrics_source
from provisioning.selectors import resource_metrics
from provisioning.services.accounts import cloud_account_validate
from provisioning.services.saga import deployment_start
from provisioning.tests.helpers import IMAGE, ec2_account
from tests.moto_server import boto
from tests.prometheus_server import prometheus_fixture  # noqa: F401  (a real Prometheus)
from tests.saga import approved_order, run_queued

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)
# The instances' datapoint period the EC2 account declares (detailed monitoring).
INTERVAL = 60


# --- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metrics", "provider", "problem"),
    [
        ({"source": "graphite"}, "ec2", 'Unknown metrics source "graphite"'),
        ({"source": "prometheus"}, "openstack", "needs its http(s) url"),
        ({"source": "simulated"}, "ec2", "Only sandbox accounts"),
        ({"source": "cloudwatch", "interval": "5m"}, "ec2", "whole seconds"),
        (
            {"source": "prometheus", "url": "http://p:9090", "cpu_query": "up"},
            "gce",
            "cpu_query must select the servers with $instances",
        ),
        ("cloudwatch", "ec2", '"metrics" must be an object'),
    ],
)
def test_metrics_settings_are_checked(demo, metrics, provider, problem):
    with pytest.raises(ValidationError) as caught:
        cloud_account_validate(
            organization=demo["web_shop"].organization,
            data={"provider": provider, "options": {"metrics": metrics}},
        )
    assert problem in " ".join(caught.value.message_dict["options"])


def test_each_provider_has_its_default_source(demo):
    def source(provider: str, **options) -> str:
        return metrics_source(CloudAccount(provider=provider, options=options)).name

    assert [source(p) for p in ("sandbox", "ec2", "openstack", "gce", "azure")] == [
        "simulated",
        "cloudwatch",
        "none",
        "none",
        "none",
    ]
    assert source("openstack", metrics={"source": "prometheus", "url": "http://p"}) == "prometheus"


# --- Prometheus ----------------------------------------------------------------------------
def prometheus_settings(url: str) -> dict:
    # Scrapes come every second here: a 5-second rate already spans several.
    return {"source": "prometheus", "url": url, "rate_window": 5}


def test_prometheus_answers_for_many_servers_in_one_call(prometheus):
    loads = {"i-prom-a": (80.0, 400.0), "i-prom-b": (3.0, 16.0)}
    prometheus.nodes.loads.update(loads)
    prometheus.wait_for_history(list(loads), 8)
    account = CloudAccount(
        provider="openstack", options={"metrics": prometheus_settings(prometheus.url)}
    )
    until = timezone.now()
    since = until - 30 * timedelta(seconds=1)
    series = metrics_source(account).series(
        ["i-prom-a", "i-prom-b", "i-unknown"], since, until, timedelta(seconds=5)
    )
    assert set(series) == set(loads)  # a server Prometheus does not know is left out
    for instance, (cpu, kbps) in loads.items():
        points = series[instance]
        assert all(since <= p.at < until for p in points)
        assert {b.at - a.at for a, b in pairwise(points)} == {timedelta(seconds=5)}
        last = points[-1]  # a window with scrapes all across it
        assert last.cpu_percent == pytest.approx(cpu, abs=0.5)  # scrapes come a few ms late
        assert last.network_kbps == pytest.approx(kbps, rel=0.01)


def test_prometheus_failures_say_what_failed(prometheus):
    now = timezone.now()
    broken = {**prometheus_settings(prometheus.url), "cpu_query": "rate(($instances"}
    account = CloudAccount(provider="openstack", options={"metrics": broken})
    with pytest.raises(ProviderError, match=r"Prometheus answered 400: .*parse error") as caught:
        metrics_source(account).series(["i-1"], now - MINUTE, now, MINUTE)
    assert not caught.value.transient
    gone = CloudAccount(
        provider="openstack", options={"metrics": prometheus_settings("http://127.0.0.1:9")}
    )
    with pytest.raises(ProviderError, match="Cannot reach Prometheus") as caught:
        metrics_source(gone).series(["i-1"], now - MINUTE, now, MINUTE)
    assert caught.value.transient


def test_servers_charted_and_reclaimed_from_prometheus(demo, prometheus, monkeypatch):
    """Sandbox servers whose account reads Prometheus: the simulation is not consulted."""
    account = CloudAccount.objects.get(name="sandbox")
    account.options = {**account.options, "metrics": prometheus_settings(prometheus.url)}
    account.save()
    idle, busy = (_completed_server(demo, name) for name in ("quiet", "loud"))
    prometheus.nodes.loads[idle.external_id] = (1.5, 8.0)
    prometheus.nodes.loads[busy.external_id] = (65.0, 900.0)
    window = timedelta(seconds=30)  # the reclaim reads 30-second steps: rates over 30 s
    prometheus.wait_for_history([idle.external_id, busy.external_id], 32)

    now = timezone.now()
    points = resource_metrics(
        resource=idle, since=now - MINUTE, until=now, step=timedelta(seconds=10)
    )
    assert (points[-1].cpu_percent, points[-1].network_kbps) == pytest.approx((1.5, 8.0), abs=0.2)

    idle_policy_save(
        user=None,
        organization=demo["web_shop"].organization,
        fields={
            "name": "Acme idle",
            "cpu_below_percent": 5,
            "network_below_kbps": 100,
            "window": window,
            "notify_after": timedelta(0),
        },
    )
    calls = []
    original = PrometheusMetrics.series

    def counted(self, external_ids, *args):
        calls.append(sorted(external_ids))
        return original(self, external_ids, *args)

    monkeypatch.setattr(PrometheusMetrics, "series", counted)
    assert reclaim_evaluate(now=timezone.now()) == {"notified": 1, "busy": 1}
    assert calls == [sorted([idle.external_id, busy.external_id])]  # one call for the account
    case = ReclaimCase.objects.get()
    assert case.resource == idle and case.evidence["cpu_percent"] == pytest.approx(1.5, abs=0.2)


def _completed_server(demo, name: str) -> Resource:
    order = approved_order(demo, "linux-vm", name=name)
    deployment_start(order=order)
    run_queued()
    return order.resources.get(kind="server")


# --- CloudWatch at moto --------------------------------------------------------------------
@pytest.fixture(name="ec2")
def ec2_fixture(demo, moto) -> CloudAccount:
    account = ec2_account(demo["web_shop"].organization, moto)
    account.options = {**account.options, "metrics": {"source": "cloudwatch", "interval": INTERVAL}}
    account.save()
    account.projects.add(demo["web_shop"])
    return account


def ec2_order(demo, account: CloudAccount, slug: str, **parameters) -> Order:
    item = CatalogItem.objects.get(slug=slug)
    order = Order(
        item=item,
        project=demo["web_shop"],
        requester=demo["alice"],
        cloud_account=account,
        status="approved",
        parameters={"size": "t3.micro", "image": IMAGE, "location": "us-east-1a", **parameters},
    )
    order.pin_plan(resources=resolve_resources(item=item, parameters=order.parameters))
    order.save()
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed", order.status_message
    return order


def put_load(
    url: str, instances: list[str], *, cpu: float, kbps: float, since: datetime, until: datetime
) -> None:
    """What EC2 would report with detailed monitoring: a datapoint a minute per instance, the
    network as bytes in and out over the minute."""
    first = math.ceil(since.timestamp() / 60) * 60
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "InstanceId", "Value": instance}],
            "Timestamp": datetime.fromtimestamp(at, tz=UTC),
            "Value": value,
        }
        for instance in instances
        for at in range(first, int(until.timestamp()) + 1, 60)
        for name, value in (
            ("CPUUtilization", cpu),
            ("NetworkIn", kbps * 1000 / 8 * INTERVAL / 2),
            ("NetworkOut", kbps * 1000 / 8 * INTERVAL / 2),
        )
    ]
    cloudwatch = boto(url, "cloudwatch")
    for offset in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[offset : offset + 500])


def instance_state(url: str, instance: str) -> str:
    [reservation] = boto(url, "ec2").describe_instances(InstanceIds=[instance])["Reservations"]
    return reservation["Instances"][0]["State"]["Name"]


def test_ec2_server_charts_come_from_cloudwatch(demo, ec2, moto, api_as, client):
    server = ec2_order(demo, ec2, "linux-vm", name="charted").resources.get(kind="server")
    now = timezone.now()
    put_load(moto, [server.external_id], cpu=37.5, kbps=240, since=now - 2 * 60 * MINUTE, until=now)
    answer = api_as(demo["alice"]).get(f"/api/v1/resources/{server.pk}/metrics/", {"range": "1h"})
    points = answer.json()
    assert len(points) >= 11  # a point per 5 minutes of the hour
    assert {(p["cpu_percent"], p["network_kbps"]) for p in points} == {(37.5, 240.0)}
    client.force_login(demo["alice"])
    page = client.get(f"/resources/{server.pk}/metrics/?range=1h").content.decode()
    assert "<svg" in page and "No metrics" not in page


def test_an_idle_ec2_server_is_notified_then_stopped(demo, ec2, moto):
    server = ec2_order(demo, ec2, "linux-vm", name="sleepy").resources.get(kind="server")
    idle_policy_save(
        user=None,
        organization=demo["web_shop"].organization,
        fields={
            "name": "Acme idle",
            "cpu_below_percent": 5,
            "network_below_kbps": 100,
            "window": timedelta(hours=1),
            "notify_after": timedelta(0),
            "stop_after": timedelta(hours=1),
        },
    )
    t0 = timezone.now() + 61 * MINUTE  # the server has run through a whole window
    put_load(
        moto,
        [server.external_id],
        cpu=1.2,
        kbps=9,
        since=t0 - 2 * 60 * MINUTE,
        until=t0 + 2 * 60 * MINUTE,
    )
    assert reclaim_evaluate(now=t0) == {"notified": 1}
    case = ReclaimCase.objects.get(resource=server)
    assert (case.evidence["cpu_percent"], case.evidence["network_kbps"]) == (1.2, 9.0)
    assert reclaim_evaluate(now=t0 + 30 * MINUTE) == {"waiting": 1}
    assert reclaim_evaluate(now=t0 + 60 * MINUTE) == {"stopped": 1}
    run_queued()
    server.refresh_from_db()
    assert server.state == "stopped" and instance_state(moto, server.external_id) == "stopped"


def test_an_ec2_group_scales_out_and_in_on_cloudwatch_cpu(demo, ec2, moto):
    boto(moto, "route53").create_hosted_zone(Name="shop.test", CallerReference="scaling")
    order = ec2_order(
        demo,
        ec2,
        "autoscaling-web-tier",
        name="shop",
        instances=1,
        max_instances=3,
        zone="shop.test",
    )
    group = order.resources.get(kind="autoscaling_group")
    policy_save(
        user=demo["bob"],
        policy=None,
        data={
            "group": group,
            "metric": "cpu",
            "scale_out_threshold": 70,
            "scale_out_window": 3,
            "scale_in_threshold": 30,
            "scale_in_window": 3,
            "step": 1,
            "cooldown": 5,
        },
    )
    now = timezone.now() + 60 * MINUTE

    def running() -> list[str]:
        return list(group.children.filter(state="active").values_list("external_id", flat=True))

    def tick(cpu: float) -> int:
        # The policies' window (3 minutes) and a minute more: no datapoint of an earlier tick
        # (5 minutes before) is averaged in.
        put_load(moto, running(), cpu=cpu, kbps=500, since=now - 4 * MINUTE, until=now)
        acted = evaluate(now=now)
        run_queued()
        evaluate(now=now)  # closes a finished activity
        return acted

    sizes = [group_size(group=group)]
    while sizes[-1] < 3:
        assert tick(cpu=90) == 1
        sizes.append(group_size(group=group))
        now += 5 * MINUTE
    assert tick(cpu=90) == 0  # at the maximum
    now += 5 * MINUTE
    while sizes[-1] > 1:
        assert tick(cpu=10) == 1
        sizes.append(group_size(group=group))
        now += 5 * MINUTE
    assert sizes == [1, 2, 3, 2, 1]
    at_moto = [instance_state(moto, instance) for instance in running()]
    assert at_moto == ["running"]
    balancer = order.resources.get(kind="load_balancer")
    [described] = boto(moto, "elb").describe_load_balancers(
        LoadBalancerNames=[balancer.canopy_tag]
    )["LoadBalancerDescriptions"]
    assert [m["InstanceId"] for m in described["Instances"]] == running()
