"""Idle reclaim judges servers on the metrics their account names as its source: a real
Prometheus (one call for the account's servers), CloudWatch at moto (notified, then stopped).
`now` moves ahead of the clock where the test put CloudWatch datapoints for those instants."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.tests.factories import OrganizationFactory
from lifecycle.models import ReclaimCase
from lifecycle.services.reclaim import idle_policy_save, reclaim_evaluate
from provisioning.providers.metrics import PrometheusMetrics
from provisioning.selectors import resource_metrics
from provisioning.tests.factories import CloudAccountFactory
from provisioning.tests.helpers import (
    CLOUDWATCH,
    ec2_account,
    instance_state,
    prometheus_settings,
    provisioned_server,
    put_load,
)
from provisioning.tests.plans import EC2_SERVER
from provisioning.tests.saga import run_queued
from tests.prometheus_server import prometheus_fixture  # noqa: F401  (a real Prometheus)

pytestmark = pytest.mark.django_db
MINUTE = timedelta(minutes=1)


def test_servers_charted_and_reclaimed_from_prometheus(prometheus, monkeypatch):
    """Sandbox servers whose account reads Prometheus: the simulation is not consulted."""
    account = CloudAccountFactory(options={"metrics": prometheus_settings(prometheus.url)})
    idle, busy = (provisioned_server(name, cloud_account=account) for name in ("quiet", "loud"))
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
        organization=account.organization,
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


def test_an_idle_ec2_server_is_notified_then_stopped(moto):
    ec2 = ec2_account(OrganizationFactory(), moto, **CLOUDWATCH)
    server = provisioned_server("sleepy", server=EC2_SERVER, cloud_account=ec2)
    idle_policy_save(
        user=None,
        organization=ec2.organization,
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
