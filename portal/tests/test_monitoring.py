"""Monitoring: the dashboard (scoped, constant queries), resource charts and their API,
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
from lifecycle.selectors.dashboard import dashboard_summary as lifecycle_summary
from portal.heartbeat import HEARTBEAT_MAX_AGE, heartbeat_key, heartbeat_record
from portal.models import ResourceCount
from portal.monitoring import LATENCY_BUCKETS
from portal.rollups import STALE_AFTER
from portal.tasks import refresh_rollups
from provisioning.models import CloudAccount, Resource, Step
from provisioning.providers import get_adapter
from provisioning.selectors import resource_metrics
from tests.fixtures import order_via_api, wait_until

QUEUES = django_settings.CANOPY_QUEUES


def make_order(demo, *, user="alice", project="web_shop", status="submitted") -> Order:
    return Order.objects.create(
        item=demo["linux_vm"],
        project=demo[project],
        requester=demo[user],
        parameters={"name": "web-1", "size": "small"},
        status=status,
    )


def make_resource(
    demo, *, state="active", kind="server", order=None, parent=None, **order_kwargs
) -> Resource:
    order = order or make_order(demo, status="completed", **order_kwargs)
    return Resource.objects.create(
        order=order,
        parent=parent,
        project=order.project,
        cloud_account=CloudAccount.objects.get(name="sandbox"),
        kind=kind,
        name=f"{kind}-{Resource.objects.count() + 1}",
        state=state,
        status_message="the provider said no" if state == "error" else "",
    )


def make_step(resource, *, state="done", attempts=1, wait=1.0, run=2.0, error="") -> Step:
    finished = timezone.now() - timedelta(minutes=1)
    started = finished - timedelta(seconds=run)
    return Step.objects.create(
        resource=resource,
        action="create",
        state=state,
        attempts=attempts,
        last_error=error,
        queued_at=started - timedelta(seconds=wait),
        started_at=started,
        finished_at=finished,
    )


def populate(demo, scale: int = 1) -> None:
    """Rows of every kind the dashboard and /metrics count, in both projects."""
    for _ in range(scale):
        for project, user in (("web_shop", "alice"), ("data_lab", "dave")):
            server = make_resource(demo, project=project, user=user)
            make_resource(demo, project=project, user=user, state="stopped")
            broken = make_resource(demo, project=project, user=user, state="error")
            make_step(server, attempts=3, wait=0.3, run=4)
            make_step(broken, state="failed", attempts=2, wait=20, run=50, error="quota exceeded")
            make_order(demo, user=user, project=project, status="provisioning")
            group = make_resource(demo, project=project, user=user, kind="autoscaling_group")
            Resource.objects.filter(pk=group.pk).update(
                properties={"min": 1, "max": 3, "desired": 1}
            )
            make_resource(demo, order=group.order, parent=group)
            make_order(demo, user=user, project=project, status="failed")


def visible_states(*projects) -> dict[str, int]:
    return dict(
        Counter(
            Resource.objects.filter(project__in=projects)
            .exclude(state="deleted")
            .values_list("state", flat=True)
        )
    )


# --- dashboard ------------------------------------------------------------------------------


def test_dashboard_is_scoped_to_what_the_user_sees(demo, api_as, client):
    populate(demo)
    order_via_api(api_as(demo["alice"]), demo)  # waits for bob's approval
    web_shop, data_lab = demo["web_shop"], demo["data_lab"]

    dave = api_as(demo["dave"]).get("/api/v1/dashboard/").json()
    alice = api_as(demo["alice"]).get("/api/v1/dashboard/").json()
    bob = api_as(demo["bob"]).get("/api/v1/dashboard/").json()
    admin = api_as(demo["admin"]).get("/api/v1/dashboard/").json()

    assert dave["resources"]["by_state"] == visible_states(data_lab)
    assert alice["resources"]["by_state"] == visible_states(web_shop)
    assert admin["resources"]["by_state"] == visible_states(web_shop, data_lab)
    assert alice["resources"]["by_provider"] == {"sandbox": sum(visible_states(web_shop).values())}
    in_flight = Order.objects.filter(
        project=web_shop, status__in=["submitted", "pending_approval", "approved", "provisioning"]
    )
    assert alice["orders"]["total"] == in_flight.count()
    assert {o["id"] for o in alice["orders"]["recent"]} == set(
        in_flight.values_list("pk", flat=True)
    )
    assert all(o["project"] == data_lab.pk for o in dave["orders"]["recent"])
    pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING, order__project=web_shop)
    assert (bob["approvals"]["mine"], bob["approvals"]["total"]) == (1, pending.count())
    assert (alice["approvals"]["mine"], dave["approvals"]["total"]) == (0, 0)
    # Failures link to what failed: the web-shop ones for alice, none of them for dave.
    web_shop_failures = [f for f in alice["failures"] if "/resources/" in f["url"]]
    broken = Resource.objects.get(project=web_shop, state="error")
    assert {f["url"] for f in web_shop_failures} == {f"/resources/{broken.pk}/"}
    assert {f["message"] for f in web_shop_failures} == {"quota exceeded", "the provider said no"}
    assert not {f["url"] for f in dave["failures"]} & {f["url"] for f in alice["failures"]}
    assert {b["label"] for b in bob["spend"]["budgets"]} >= {"project web-shop"}

    client.force_login(demo["dave"])
    page = client.get("/dashboard/").content.decode()
    assert f"/resources/{broken.pk}/" not in page
    assert 'hx-get="/dashboard/live/"' in page and "Failures in the last 24 hours" in page
    assert 'data-testid="lifecycle-summary"' in page
    assert 'data-testid="autoscaling-summary"' in page
    groups = Resource.objects.filter(kind="autoscaling_group")
    assert {g["id"] for g in alice["autoscaling"]["groups"]} == set(
        groups.filter(project=web_shop).values_list("pk", flat=True)
    )
    assert [g["current"] for g in dave["autoscaling"]["groups"]] == [1]
    assert alice["lifecycle"]["open_cases"] == lifecycle_summary(user=demo["alice"])["open_cases"]


def test_dashboard_failures_are_the_last_days_newest_first(demo, api_as):
    """Each kind of failure (order, step, resource) counts only within the window."""
    populate(demo)
    long_ago = timezone.now() - timedelta(days=2)
    old = make_resource(demo, state="error")
    Resource.objects.filter(pk=old.pk).update(state_changed_at=long_ago)
    Step.objects.filter(pk=make_step(old, state="failed", error="old news").pk).update(
        finished_at=long_ago
    )
    Order.objects.filter(pk=make_order(demo, status="failed").pk).update(updated_at=long_ago)
    failures = api_as(demo["alice"]).get("/api/v1/dashboard/").json()["failures"]
    web_shop = Order.objects.filter(
        project=demo["web_shop"], status="failed", updated_at__gt=long_ago
    )
    assert web_shop.exists()
    assert {f["url"] for f in failures if "/orders/" in f["url"]} == {
        f"/orders/{pk}/" for pk in web_shop.values_list("pk", flat=True)
    }
    assert f"/resources/{old.pk}/" not in {f["url"] for f in failures}
    assert "old news" not in {f["message"] for f in failures}
    assert [f["at"] for f in failures] == sorted((f["at"] for f in failures), reverse=True)


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


# --- resource charts and metrics API --------------------------------------------------------


@pytest.fixture
def sandbox_server(demo) -> Resource:
    """An active server that exists in the sandbox cloud, so it has a metric series."""
    server = make_resource(demo)
    obj = get_adapter(server.cloud_account).create(
        "server", server.canopy_tag, {"size": "small", "image": "debian-12", "location": "local"}
    )
    Resource.objects.filter(pk=server.pk).update(external_id=obj.external_id)
    server.refresh_from_db()
    return server


def test_metrics_api_returns_the_series(demo, api_as, sandbox_server):
    until = timezone.now().replace(microsecond=0)
    since = until - timedelta(hours=2)
    answer = api_as(demo["alice"]).get(
        f"/api/v1/resources/{sandbox_server.pk}/metrics/",
        {"since": since.isoformat(), "until": until.isoformat(), "step": 600},
    )
    assert answer.status_code == 200
    expected = resource_metrics(
        resource=sandbox_server, since=since, until=until, step=timedelta(seconds=600)
    )
    assert len(answer.json()) == len(expected) > 0
    assert [p["cpu_percent"] for p in answer.json()] == [p.cpu_percent for p in expected]
    assert all(0 <= p["cpu_percent"] <= 100 for p in answer.json())


@pytest.mark.parametrize(
    "query",
    [
        {"step": 1},
        {"step": "often"},
        {"since": "yesterday"},
        {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-11-01T00:00:00Z", "step": 60},
    ],
)
def test_metrics_api_refuses_bad_parameters(demo, api_as, sandbox_server, query):
    answer = api_as(demo["alice"]).get(f"/api/v1/resources/{sandbox_server.pk}/metrics/", query)
    assert answer.status_code == 400
    assert set(answer.json()) <= {"since", "until", "step"}


def test_metrics_api_hides_other_projects_resources(demo, api_as, sandbox_server):
    assert (
        api_as(demo["dave"]).get(f"/api/v1/resources/{sandbox_server.pk}/metrics/").status_code
        == 404
    )
    assert api_as(demo["alice"]).get("/api/v1/resources/999999/metrics/").status_code == 404


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


# --- /metrics --------------------------------------------------------------------------------


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


def test_dashboard_counts_come_from_the_rollup_beat_refreshes(demo, api_as):
    """The counts are the rollup's (as of `counted_at`), not a scan of the estate on every
    request: a resource created since shows after beat's next refresh."""
    populate(demo)
    alice = api_as(demo["alice"])
    before = alice.get("/api/v1/dashboard/").json()["resources"]
    assert before["by_state"] == visible_states(demo["web_shop"])
    make_resource(demo, state="active")
    assert alice.get("/api/v1/dashboard/").json()["resources"] == before
    refresh_rollups()
    after = alice.get("/api/v1/dashboard/").json()["resources"]
    assert after["by_state"] == visible_states(demo["web_shop"])
    assert after["total"] == before["total"] + 1 and after["counted_at"] > before["counted_at"]


def test_a_rollup_beat_left_behind_is_recounted_on_read(demo, api_as):
    populate(demo)
    refresh_rollups()
    make_resource(demo, state="active")
    ResourceCount.objects.update(refreshed_at=timezone.now() - STALE_AFTER - timedelta(seconds=1))
    answer = api_as(demo["alice"]).get("/api/v1/dashboard/").json()["resources"]
    assert answer["by_state"] == visible_states(demo["web_shop"])


def test_metrics_token_is_required_when_set(db, client, settings):
    settings.CANOPY_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token") is not None


# --- /health/ --------------------------------------------------------------------------------


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
