"""Monitoring on the pages: the dashboard (live partial, constant queries), resource charts,
/metrics in Prometheus text format, and /health/."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.models import ApprovalRequest, ApprovalStatus
from autoscaling.models import ScalingActivity
from catalog.models import Order
from lifecycle.models import Lease
from portal.heartbeat import HEARTBEAT_MAX_AGE, heartbeat_key, heartbeat_record
from portal.monitoring import LATENCY_BUCKETS
from portal.tasks import refresh_rollups
from portal.tests.helpers import (
    make_resource,
    populate,
    sandbox_server_fixture,  # noqa: F401  (fixture: a server the sandbox cloud knows)
)
from provisioning.models import Resource, Step
from provisioning.selectors import resource_metrics
from tests.fixtures import order_via_api, wait_until

QUEUES = django_settings.CANOPY_QUEUES


# --- dashboard ------------------------------------------------------------------------------------


def test_dashboard_live_partial_and_nav_link(demo, client):
    client.force_login(demo["alice"])
    partial = client.get("/dashboard/live/").content.decode()
    assert "<html" not in partial
    assert 'id="dashboard-live"' in partial and 'hx-trigger="every 5s"' in partial
    assert 'href="/dashboard/"' in client.get("/").content.decode()


def test_dashboard_queries_do_not_grow_with_rows(demo, client, api_as):
    client.force_login(demo["bob"])
    populate(demo)
    client.get("/dashboard/")  # warms the per-process caches (content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/dashboard/").status_code == 200
    populate(demo, scale=4)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/dashboard/").status_code == 200
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as api:
        api_as(demo["bob"]).get("/api/v1/dashboard/")
    populate(demo)
    with CaptureQueriesContext(connection) as api_more:
        api_as(demo["bob"]).get("/api/v1/dashboard/")
    assert len(api_more) == len(api)


# --- resource charts ------------------------------------------------------------------------------


def metrics_partial(client, resource) -> str:
    return client.get(f"/resources/{resource.pk}/metrics/").content.decode()


def test_resource_page_charts(demo, client, sandbox_server):
    client.force_login(demo["alice"])
    page = client.get(f"/resources/{sandbox_server.pk}/").content.decode()
    assert f'hx-get="/resources/{sandbox_server.pk}/metrics/?range=1h"' in page
    chart = client.get(f"/resources/{sandbox_server.pk}/metrics/?range=24h").content.decode()
    now = timezone.now()
    points = resource_metrics(
        resource=sandbox_server,
        since=now - timedelta(hours=24),
        until=now,
        step=timedelta(minutes=15),
    )
    assert 'data-testid="chart-cpu"' in chart and 'data-testid="chart-network"' in chart
    polyline = chart.split('<polyline points="')[1].split('"')[0]
    assert abs(len(polyline.split()) - len(points)) <= 1  # the window moved by at most a step
    assert 'hx-trigger="every 30s"' in chart

    volume = make_resource(demo, kind="volume")
    assert "A volume reports no metrics." in metrics_partial(client, volume)
    ec2 = make_resource(demo)  # an active server the sandbox has never heard of: no series
    assert "No metrics from this provider." in metrics_partial(client, ec2)
    deleted = make_resource(demo, state="deleted")
    assert "No metrics while deleted." in metrics_partial(client, deleted)
    client.force_login(demo["dave"])
    assert client.get(f"/resources/{sandbox_server.pk}/metrics/").status_code == 404


# --- /metrics -------------------------------------------------------------------------------------


def scrape(client, **headers) -> dict:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_counts_what_the_database_holds(demo, api_as, client):
    populate(demo, scale=2)
    order_via_api(api_as(demo["alice"]), demo)
    group = make_resource(demo, kind="autoscaling_group")
    for to_count, status in ((3, "completed"), (4, "refused"), (4, "refused"), (1, "completed")):
        ScalingActivity.objects.create(
            group=group, at=timezone.now(), from_count=2, to_count=to_count, status=status
        )
    samples = scrape(client)

    for (state, provider, kind), n in Counter(
        Resource.objects.values_list("state", "cloud_account__provider", "kind")
    ).items():
        labels = (("kind", kind), ("provider", provider), ("state", state))
        assert samples["canopy_resources", labels] == n
    for status, n in Counter(Order.objects.values_list("status", flat=True)).items():
        assert samples["canopy_orders", (("status", status),)] == n
    pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count()
    assert samples["canopy_approvals_pending", ()] == pending

    server = (("kind", "server"), ("provider", "sandbox"))
    steps = Step.objects.filter(
        resource__kind="server", resource__cloud_account__provider="sandbox"
    )
    assert samples["canopy_step_retries_total", server] == sum(
        s.attempts - 1 for s in steps if s.attempts > 1
    )
    assert samples["canopy_step_failures_total", server] == steps.filter(state="failed").count()

    # Histograms over the recent steps: each bucket counts the steps at or under its bound.
    labels = (("action", "create"), ("kind", "server"))
    recent = list(steps.filter(finished_at__gte=timezone.now() - timedelta(hours=1)))
    for bound in LATENCY_BUCKETS:
        le = (*labels, ("le", str(float(bound))))
        runs = [s for s in recent if (s.finished_at - s.started_at).total_seconds() <= bound]
        waits = [s for s in recent if (s.started_at - s.queued_at).total_seconds() <= bound]
        assert samples["canopy_step_run_seconds_bucket", le] == len(runs)
        assert samples["canopy_step_queue_wait_seconds_bucket", le] == len(waits)
    assert samples["canopy_step_run_seconds_bucket", (*labels, ("le", "+Inf"))] == len(recent)
    total_run = sum((s.finished_at - s.started_at).total_seconds() for s in recent)
    assert samples["canopy_step_run_seconds_gsum", labels] == pytest.approx(total_run)

    for state, n in Counter(Lease.objects.values_list("state", flat=True)).items():
        assert samples["canopy_leases", (("state", state),)] == n
    for (out, status), n in Counter(
        (a.to_count > a.from_count, a.status) for a in ScalingActivity.objects.all()
    ).items():
        labels = (("direction", "out" if out else "in"), ("status", status))
        assert samples["canopy_scaling_activities_total", labels] == n


def test_metrics_queries_do_not_grow_with_rows(demo, client):
    populate(demo)
    refresh_rollups()  # as beat does: the scrape reads the rollup
    with CaptureQueriesContext(connection) as few:
        scrape(client)
    populate(demo, scale=3)
    refresh_rollups()
    with CaptureQueriesContext(connection) as many:
        scrape(client)
    assert len(many) == len(few)


def test_metrics_token_is_required_when_set(db, client, settings):
    settings.CANOPY_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token") is not None


# --- /health/ -------------------------------------------------------------------------------------


@pytest.fixture
def no_heartbeats():

    cache.delete_many([heartbeat_key(queue) for queue in QUEUES])
    yield
    cache.delete_many([heartbeat_key(queue) for queue in QUEUES])


@pytest.mark.worker
def test_health_is_ok_with_a_worker_running(celery_worker_process, client, no_heartbeats):
    wait_until(lambda: client.get("/health/").status_code == 200, timeout=60, what="healthy")
    report = client.get("/health/").json()
    assert report["status"] == "ok"
    assert set(report["checks"]) == {"database", "broker", "cache", "workers"}
    assert set(report["checks"]["workers"]["queues"]) == set(QUEUES)


def test_health_names_the_broker_when_it_is_down(db, client, settings, no_heartbeats):
    heartbeat_record(queues=QUEUES, hostname="test")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    answer = client.get("/health/")
    assert answer.status_code == 503
    checks = answer.json()["checks"]
    assert (checks["database"]["ok"], checks["broker"]["ok"], checks["workers"]["ok"]) == (
        True,
        False,
        True,
    )
    assert "127.0.0.1:1" in checks["broker"]["error"] or "refused" in checks["broker"]["error"]


def test_health_names_the_queue_without_a_live_worker(db, client, no_heartbeats):
    default, provider, billing = QUEUES
    heartbeat_record(queues=[default, billing], hostname="test")
    heartbeat_record(queues=[provider], hostname="old", at=time.time() - HEARTBEAT_MAX_AGE - 5)
    answer = client.get("/health/")
    assert answer.status_code == 503
    workers = answer.json()["checks"]["workers"]
    assert not workers["ok"] and provider in workers["error"]
    assert default not in workers["error"] and billing not in workers["error"]
    assert answer.json()["checks"]["database"]["ok"] and answer.json()["checks"]["broker"]["ok"]


def test_health_and_metrics_report_the_same_heartbeat_ages(db, client, no_heartbeats):
    default, provider, _billing = QUEUES
    heartbeat_record(queues=[default], hostname="worker-a", at=time.time() - 7)
    queues = client.get("/health/").json()["checks"]["workers"]["queues"]
    assert queues[default]["hostname"] == "worker-a" and 7 <= queues[default]["age_seconds"] < 60
    assert queues[provider] == {"age_seconds": None, "hostname": None}  # never stamped
    lines = client.get("/metrics").content.decode().splitlines()
    ages = [line for line in lines if line.startswith("canopy_worker_heartbeat_age_seconds{")]
    assert len(ages) == 1 and f'queue="{default}"' in ages[0]  # none for the unstamped queue
    assert 7 <= float(ages[0].split()[-1]) < 60
