"""The usage rollups (`UsageDay`, `UsageResourceMonth`): added to by metering in the same
transaction as the rows they sum, rebuilt from the rows by a migration or `rollup_usage`.

One INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE per rollup and day (or month): the sums
are computed by the database, on PostgreSQL and SQLite alike."""

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Max, Min

from billing.models import Usage, UsageDay, UsageResourceMonth, UsageRollup
from billing.selectors.periods import month_after, month_period

DAY = timedelta(days=1)
SUMS = ("cost", "hours", "running_hours", "created", "unpriced")


def _upsert_sql(rollup: type[UsageRollup], period_column: str, leading: list[str]) -> str:
    """INSERT the usage rows' sums of one period (a parameter, then the hour range and the
    optional `metered_at`) into `rollup`, adding to rows that exist."""
    quote = connection.ops.quote_name
    table, usage = quote(rollup._meta.db_table), quote(Usage._meta.db_table)
    key = [*leading, *UsageRollup.KEY]
    # The rollups keep 0 for an empty id (see UsageRollup); the rest is copied as it is.
    source = [
        f"COALESCE({column}, 0)"
        if column in ("user_id", "catalog_item_id", "cloud_account_id")
        else column
        for column in key
    ]
    sums = [
        "SUM(cost)",
        "SUM(hours)",
        "SUM(running_hours)",
        "SUM(CASE WHEN one_time > 0 THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN unpriced THEN 1 ELSE 0 END)",
    ]
    conflict = ", ".join(quote(column) for column in [period_column, *key])
    update = ", ".join(f"{quote(s)} = {table}.{quote(s)} + excluded.{quote(s)}" for s in SUMS)
    return (
        f"INSERT INTO {table} ({quote(period_column)}, {', '.join(map(quote, key))}, "
        f"{', '.join(map(quote, SUMS))}) "
        f"SELECT %s, {', '.join(source)}, {', '.join(sums)} FROM {usage} "
        "WHERE hour >= %s AND hour < %s {metered} "
        f"GROUP BY {', '.join(source)} "
        f"ON CONFLICT ({conflict}) DO UPDATE SET {update}"
    )


def _add(sql: str, period: date, start: datetime, end: datetime, metered_at: datetime | None):
    ops = connection.ops
    params = [ops.adapt_datefield_value(period), ops.adapt_datetimefield_value(start)]
    params.append(ops.adapt_datetimefield_value(end))
    if metered_at is not None:
        params.append(ops.adapt_datetimefield_value(metered_at))
    with connection.cursor() as cursor:
        cursor.execute(
            sql.replace("{metered}", "AND metered_at = %s" if metered_at else ""), params
        )


def rollups_add(*, start: datetime, end: datetime, metered_at: datetime | None = None) -> None:
    """Add the usage rows of [start, end) (only those of one metering run: `metered_at`) to
    the rollups: one statement per day for the daily rollup, one per month for the resources'.
    `start` and `end` are whole hours; a run adds its rows once, so nothing is counted twice."""
    day_sql = _upsert_sql(UsageDay, "day", [])
    month_sql = _upsert_sql(UsageResourceMonth, "month", ["resource_id"])
    day = start.replace(hour=0)
    while day < end:
        _add(day_sql, day.date(), max(start, day), min(end, day + DAY), metered_at)
        day += DAY
    month = start.date().replace(day=1)
    while month_period(month).start < end:
        period = month_period(month)
        _add(month_sql, month, max(start, period.start), min(end, period.end), metered_at)
        month = month_after(month)


@transaction.atomic
def rollups_rebuild() -> int:
    """Rebuild both rollups from every usage row (after a migration, or rows written around
    metering). Returns the number of daily rollup rows."""
    UsageDay.objects.all().delete()
    UsageResourceMonth.objects.all().delete()
    span = Usage.objects.aggregate(first=Min("hour"), last=Max("hour"))
    if span["first"] is not None:
        rollups_add(start=span["first"], end=span["last"] + timedelta(hours=1))
    return UsageDay.objects.count()
