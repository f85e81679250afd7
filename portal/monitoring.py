"""Operations: the Prometheus collector behind /metrics and the checks behind /health/.

The collector reads the database at scrape time, so every web process answers the same numbers
however many gunicorn and Celery processes run (no per-process counters to add up).
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from approvals.models import ApprovalRequest, ApprovalStatus
from autoscaling.models import ScalingActivity
from catalog.models import Order
from core.cache import cache_ping
from lifecycle.models import Lease, ReclaimCase
from portal.celery import app as celery_app
from portal.heartbeat import HEARTBEAT_MAX_AGE, heartbeat_read
from portal.rollups import counts_by, resource_counts, step_counts
from provisioning.models import Drift, Step, StepState

# Latency histograms cover the steps finished this recently: a window, so they are gauge
# histograms (buckets may go down); histogram_quantile() reads them as they are.
RECENT_STEPS = timedelta(hours=1)
WINDOW_MINUTES = int(RECENT_STEPS.total_seconds() // 60)
LATENCY_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900)
BROKER_TIMEOUT_SECONDS = 2


def _queues() -> list[str]:
    """The queues workers must serve: bookkeeping, provider calls and billing's long jobs."""
    return settings.CANOPY_QUEUES


def _heartbeat_ages() -> dict[str, tuple[float | None, str | None]]:
    """Per queue: seconds since a worker last stamped it and that worker's name (None, None
    when never stamped). Read by both /metrics and /health/."""
    now = time.time()
    return {
        queue: (None, None) if stamp is None else (round(now - stamp["at"], 1), stamp["hostname"])
        for queue, stamp in heartbeat_read(queues=_queues()).items()
    }


class CanopyCollector(Collector):
    """Counts from the database: a constant number of GROUP BY queries per scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from self._resources()
        yield from self._orders()
        yield from self._steps()
        yield from self._step_latencies()
        yield from self._lifecycle()
        yield from self._drift()
        yield from self._workers()

    def _resources(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "canopy_resources",
            "Resources by state, provider and kind.",
            labels=["state", "provider", "kind"],
        )
        counts, _ = resource_counts()  # the rollup beat keeps: not a scan of the estate
        for state, provider, kind, n in counts_by(counts, "state", "provider", "kind"):
            gauge.add_metric([state, provider, kind], n)
        yield gauge

    def _drift(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "canopy_drift_open",
            "Resources the provider reports differently from Canopy's records, not yet restored.",
            labels=["provider", "field"],
        )
        rows = (
            Drift.objects.filter(resolved_at__isnull=True)
            .values_list("resource__cloud_account__provider", "field")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for provider, field, n in rows:
            gauge.add_metric([provider, field], n)
        yield gauge

    def _orders(self) -> Iterator[Metric]:
        orders = GaugeMetricFamily("canopy_orders", "Orders by status.", labels=["status"])
        for status, n in Order.objects.values_list("status").annotate(n=Count("pk")).order_by():
            orders.add_metric([status], n)
        yield orders
        pending = ApprovalRequest.objects.filter(status=ApprovalStatus.PENDING).count()
        yield GaugeMetricFamily(
            "canopy_approvals_pending", "Approval requests waiting for a decision.", value=pending
        )

    def _steps(self) -> Iterator[Metric]:
        labels = ["provider", "kind"]
        steps = GaugeMetricFamily(
            "canopy_steps", "Provider steps by state.", labels=["state", *labels]
        )
        retries = CounterMetricFamily(
            "canopy_step_retries",
            "Provider calls retried after a transient error (attempts beyond the first).",
            labels=labels,
        )
        failures = CounterMetricFamily(
            "canopy_step_failures",
            "Provider steps that failed for good (the saga compensated or the action failed).",
            labels=labels,
        )
        rows = step_counts().values_list("state", "provider", "kind", "n", "retries")
        retried: dict[tuple, int] = defaultdict(int)
        failed: dict[tuple, int] = defaultdict(int)
        for state, provider, kind, n, extra in rows:
            steps.add_metric([state, provider, kind], n)
            retried[provider, kind] += extra or 0
            if state == StepState.FAILED:
                failed[provider, kind] += n
        for key, n in sorted(retried.items()):
            retries.add_metric(list(key), n)
            failures.add_metric(list(key), failed[key])
        yield from (steps, retries, failures)

    def _step_latencies(self) -> Iterator[Metric]:
        wait = ExpressionWrapper(F("started_at") - F("queued_at"), output_field=DurationField())
        run = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        waited = Q(queued_at__isnull=False, started_at__gte=F("queued_at"))
        aggregates = {"waited": Count("pk", filter=waited), "wait_sum": Sum("wait", filter=waited)}
        aggregates["ran"] = Count("pk", filter=Q(started_at__isnull=False))
        aggregates["run_sum"] = Sum("run", filter=Q(started_at__isnull=False))
        for index, bound in enumerate(LATENCY_BUCKETS):
            limit = timedelta(seconds=bound)
            aggregates[f"wait_{index}"] = Count("pk", filter=waited & Q(wait__lte=limit))
            aggregates[f"run_{index}"] = Count("pk", filter=Q(run__lte=limit))
        rows = (
            Step.objects.filter(finished_at__gte=timezone.now() - RECENT_STEPS)
            .annotate(wait=wait, run=run)
            .values("action", "resource__kind")
            .annotate(**aggregates)
            .order_by("action", "resource__kind")
        )
        labels = ["action", "kind"]
        queue_wait = GaugeHistogramMetricFamily(
            "canopy_step_queue_wait_seconds",
            f"Time the steps finished in the last {WINDOW_MINUTES} minutes waited in the queue "
            "(queued → started).",
            labels=labels,
        )
        run_time = GaugeHistogramMetricFamily(
            "canopy_step_run_seconds",
            f"Run time of the steps finished in the last {WINDOW_MINUTES} minutes (started → "
            "finished, retries included).",
            labels=labels,
        )
        for row in rows:
            key = [row["action"], row["resource__kind"]]
            for metric, prefix, total in ((queue_wait, "wait", "waited"), (run_time, "run", "ran")):
                buckets = [
                    (str(float(bound)), row[f"{prefix}_{index}"])
                    for index, bound in enumerate(LATENCY_BUCKETS)
                ]
                buckets.append(("+Inf", row[total]))
                seconds = row[f"{prefix}_sum"]
                metric.add_metric(key, buckets, seconds.total_seconds() if seconds else 0.0)
        yield from (queue_wait, run_time)

    def _lifecycle(self) -> Iterator[Metric]:
        """Leases, idle-reclaim cases and scaling decisions: one GROUP BY each."""
        leases = GaugeMetricFamily("canopy_leases", "Order leases by state.", labels=["state"])
        for state, n in Lease.objects.values_list("state").annotate(n=Count("pk")).order_by():
            leases.add_metric([state], n)
        cases = GaugeMetricFamily(
            "canopy_reclaim_cases_open", "Open idle-reclaim cases by grade.", labels=["grade"]
        )
        open_cases = ReclaimCase.objects.filter(closed_at__isnull=True)
        for grade, n in open_cases.values_list("grade").annotate(n=Count("pk")).order_by():
            cases.add_metric([grade], n)
        scaling = CounterMetricFamily(
            "canopy_scaling_activities",
            "Autoscaling decisions by outcome (refused: quota or budget said no).",
            labels=["direction", "status"],
        )
        rows = (
            ScalingActivity.objects.annotate(out=Q(to_count__gt=F("from_count")))
            .values_list("out", "status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for out, status, n in rows:
            scaling.add_metric(["out" if out else "in", status], n)
        yield from (leases, cases, scaling)

    def _workers(self) -> Iterator[Metric]:
        ages = GaugeMetricFamily(
            "canopy_worker_heartbeat_age_seconds",
            "Seconds since a worker consuming the queue last said it is alive.",
            labels=["queue"],
        )
        for queue, (age, _hostname) in _heartbeat_ages().items():
            if age is not None:
                ages.add_metric([queue], age)
        yield ages


def metrics_registry() -> CollectorRegistry:
    """Only Canopy's collector: per-process metrics would disagree between web processes."""
    registry = CollectorRegistry()
    registry.register(CanopyCollector())
    return registry


# --- health ---------------------------------------------------------------------------------


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {}


def _check_broker() -> dict:
    # The URL is read now rather than from the app's config so the check follows the settings.
    with celery_app.connection_for_write(
        url=settings.CELERY_BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS
    ) as conn:
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
        conn.default_channel  # noqa: B018  (opens a channel: the broker really answers)
    return {}


def _check_cache() -> dict:
    cache_ping()
    return {}


def _check_workers() -> dict:
    try:
        cache_ping()
    except Exception as error:
        raise HealthError(
            f"unknown: their heartbeats live in the cache, which is down: {error}"
        ) from error
    queues = {}
    stale = []
    for queue, (age, hostname) in _heartbeat_ages().items():
        queues[queue] = {"age_seconds": age, "hostname": hostname}
        if age is None or age > HEARTBEAT_MAX_AGE:
            stale.append(queue)
    if stale:
        raise HealthError(
            f"no worker heard from in {HEARTBEAT_MAX_AGE}s on: {', '.join(stale)}", queues=queues
        )
    return {"queues": queues}


class HealthError(Exception):
    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.details = details


CHECKS = {
    "database": _check_database,
    "broker": _check_broker,
    "cache": _check_cache,
    "workers": _check_workers,
}


def health_report() -> tuple[bool, dict]:
    """Run every check; ({"ok"}, per check {"ok", "error"?, …details}). Never raises."""
    checks = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = {"ok": True, **check()}
        except HealthError as error:
            checks[name] = {"ok": False, "error": str(error), **error.details}
        except Exception as error:  # the check's whole point is to report any failure
            checks[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    healthy = all(check["ok"] for check in checks.values())
    return healthy, {"status": "ok" if healthy else "failing", "checks": checks}
