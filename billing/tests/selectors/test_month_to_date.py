"""Month to date: this month's report includes the accrual of what runs since the last metered
hour (a past month has none), read in one query whatever the number of running resources."""

from datetime import timedelta
from decimal import Decimal

import pytest

from billing import accrual
from billing.pricing import HOURS_PER_MONTH
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period, period_parse
from billing.services.metering import hour_floor, meter_hour, meter_range
from billing.tests.helpers import SMALL_HOURLY, T0, at, cents, event, make_resource, now_in_month
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def test_month_to_date_includes_what_runs_since_the_last_metered_hour(world):
    """Before any metering: the report of this month shows the server's accrued cost (marked
    as an estimate) and its run rate; after metering, metered + accrued is the same sum."""
    now = now_in_month()
    server = make_resource(world, size="small")
    event(server, "created", now - timedelta(hours=5), size="small")
    period = period_parse()

    report = chargeback_report(user=world["carol"], period=period, group_by="project", now=now)
    (row,) = report.rows
    assert report.includes_now and report.total == 0
    assert row.accrued == report.accrued == cents(5 * SMALL_HOURLY)
    assert row.run_rate == report.run_rate == SMALL_HOURLY * HOURS_PER_MONTH

    # Metering the ended hours moves them from "accrued" to "metered"; the sum stays.
    meter_range(start=now - timedelta(hours=6), end=hour_floor(now))
    metered = chargeback_report(user=world["carol"], period=period, group_by="project", now=now)
    assert metered.total == cents(Decimal("4.6666667") * SMALL_HOURLY)  # 4 h 40 min
    assert metered.accrued == cents(Decimal(20) / 60 * SMALL_HOURLY)
    assert metered.total_with_accrued == report.total_with_accrued


def test_a_past_month_has_no_accrual(world):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(3))
    report = chargeback_report(
        user=world["carol"], period=month_period(T0.date()), group_by="resource"
    )
    assert not report.includes_now and report.accrued == 0
    assert report.total == cents(3 * SMALL_HOURLY)


def test_the_accrual_is_one_query_whatever_the_number_of_running_resources(world, query_baseline):
    now = now_in_month()
    period = period_parse()

    def queries_for(count: int, metered: bool = False) -> int:
        for _ in range(count):
            server = make_resource(world, size="small")
            event(server, "created", now - timedelta(hours=2), size="small")
        if metered:
            meter_hour(hour=hour_floor(now) - timedelta(hours=1))
        name = "billing.running_costs_metered" if metered else "billing.running_costs"
        with query_baseline(name) as queries:
            costs = accrual.running_costs(
                resources=Resource.objects.all(), start=period.start, end=period.end, now=now
            )
        assert len(costs) == Resource.objects.count()
        return len(queries.captured_queries)

    few, many = queries_for(2), queries_for(30)
    # The last metered hour (none here), the resources, and the rates of their cards: 3 when
    # pinned first.
    assert few == many
    # With a metered hour: its rows for what did not change since, and the changed ones: 4.
    assert queries_for(2, metered=True) == queries_for(30, metered=True)
