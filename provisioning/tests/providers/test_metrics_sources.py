"""Metrics sources behind one batch interface: each provider's default, and a real Prometheus
scraping node_exporter-style counters, asked for many servers in one call. (CloudWatch at moto:
the charts in portal/tests/api/test_resource_metrics_cloudwatch.py, idle reclaim in
lifecycle/tests/services/test_idle_metrics_sources.py, autoscaling in
autoscaling/tests/services/test_cloudwatch_scaling.py.)"""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from provisioning.models import CloudAccount
from provisioning.providers import ProviderError
from provisioning.providers.metrics import metrics_source
from provisioning.tests.helpers import prometheus_settings
from tests.prometheus_server import prometheus_fixture  # noqa: F401  (a real Prometheus)

MINUTE = timedelta(minutes=1)


def test_each_provider_has_its_default_source():
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
