"""The rollup of what runs now (billing.running), which the dashboard's spend reads: the same
sums as the accrual priced resource by resource, carried on to now, recounted when it lags."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import RunningRollup
from billing.running import STALE_AFTER, running_rollup, running_rollup_refresh
from billing.selectors.budgets import budget_list
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.services.metering import hour_floor, meter_hour
from billing.tests.helpers import event, make_resource
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def _running(world, *, user="alice", project="web_shop", since, state="active"):
    resource = make_resource(world, user=user, project=project, size="small")
    Resource.objects.filter(pk=resource.pk).update(state=state)
    event(resource, "created", since, size="small")
    return resource


def _report(user, now, running=None):
    report = chargeback_report(
        user=user, period=month_period(now.date()), group_by="project", now=now, running=running
    )
    budgets = budget_list(user=user, month=now.date(), now=now, running=report.running)
    return (
        report.total_with_accrued,
        report.run_rate,
        report.unpriced,
        [(row.key, row.cost_with_accrued, row.run_rate, row.unpriced) for row in report.rows],
        [(b.budget.pk, b.spent_with_accrued, b.forecast, b.run_rate) for b in budgets],
    )


def test_the_rollup_answers_what_the_accrual_answers_resource_by_resource(world):
    """For each persona: totals, rows by project and budgets alike, with changes since the
    metered hour (one stopped, one created, one gone missing at the provider)."""
    now = timezone.now()
    metered = hour_floor(now) - timedelta(hours=1)
    _running(world, since=metered - timedelta(hours=3))
    _running(world, user="dave", project="data_lab", since=metered - timedelta(hours=2))
    stopped = _running(world, since=metered - timedelta(hours=2))
    missing = _running(world, user="dave", project="data_lab", since=metered - timedelta(hours=2))
    for hour in range(4, 0, -1):
        meter_hour(hour=metered - timedelta(hours=hour - 1))
    Resource.objects.filter(pk=stopped.pk).update(state="stopped")
    event(stopped, "stopped", metered + timedelta(minutes=70))
    Resource.objects.filter(pk=missing.pk).update(state="missing")
    _running(world, since=now - timedelta(minutes=1))

    for name in ("admin", "carol", "bob", "alice", "dave"):
        user = world[name]
        running, counted_at = running_rollup(user=user, now=now)
        assert counted_at == now
        assert _report(user, now, running) == _report(user, now), name
    assert _report(world["carol"], now)[0] > 0


def test_a_read_carries_the_accrual_on_and_recounts_a_rollup_that_lags(world):
    now = timezone.now()
    metered = hour_floor(now) - timedelta(hours=2)
    _running(world, since=metered - timedelta(hours=1))
    meter_hour(hour=metered - timedelta(hours=1))
    meter_hour(hour=metered)
    counted = now - timedelta(minutes=3)
    running_rollup_refresh(now=counted)

    (total,), counted_at = running_rollup(user=world["carol"], now=now)
    assert counted_at == counted  # fresh enough: read as counted
    (at_count,), _ = running_rollup(user=world["carol"], now=counted)
    assert total.accrued - at_count.accrued == total.hourly * 3 / 60  # ran on since
    # An hour metered since the count: recounted from it.
    meter_hour(hour=metered + timedelta(hours=1))
    assert running_rollup(user=world["carol"], now=now)[1] == now
    # A count older than STALE_AFTER, too.
    RunningRollup.objects.update(refreshed_at=now - STALE_AFTER - timedelta(seconds=1))
    later = now + timedelta(seconds=1)
    assert running_rollup(user=world["carol"], now=later)[1] == later


def test_the_rollup_shows_each_persona_only_the_costs_it_reads(world):
    now = timezone.now()
    _running(world, since=now - timedelta(minutes=30))
    _running(world, user="dave", project="data_lab", since=now - timedelta(minutes=30))
    running_rollup_refresh(now=now)

    def projects(name):
        return {total.project_id for total in running_rollup(user=world[name], now=now)[0]}

    both = {world["web_shop"].pk, world["data_lab"].pk}
    assert projects("carol") == both  # finance: the organization
    assert projects("alice") == {world["web_shop"].pk}  # her own orders
    assert projects("dave") == {world["data_lab"].pk}
