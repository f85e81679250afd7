"""Metering: hourly usage rows from the resources' lifecycle events, priced with the rate
cards, unique per (resource, hour), and added to the rollups in the same transaction."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce, NullIf
from django.urls import reverse
from django.utils import timezone

from billing.accrual import (
    CHARGE_TO,
    HOUR,
    RUNNING_AFTER,
    SIZE_EVENTS,
    STATE_EVENTS,
    E,
    charged_to,
    last_event,
)
from billing.models import Usage
from billing.pricing import MICRO, ZERO, PriceBook, billed_kind
from billing.running import running_rollup_refresh
from billing.services.budgets import budget_alerts_send
from billing.services.rollups import rollups_add
from core.models import OrganizationMembership, OrganizationRole
from core.services import notify
from provisioning.models import Resource, ResourceEvent, ResourceState


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class _Segment:
    """What a resource was doing from `start` until the next event."""

    start: datetime
    running: bool
    size: str
    quantity: Decimal


# What metering reads of a resource (with its state before the hour) to write its usage row.
CANDIDATE_FIELDS = ("pk", "kind", "parent__kind", "properties", *CHARGE_TO.values())
PRIOR = ("prior_state", "prior_size", "prior_quantity")


def _alive_in(start: datetime, end: datetime) -> QuerySet[Resource]:
    """Resources that existed at some moment of [start, end): created before its end, not
    deleted before its start. Those whose row says deleted are left out first, unless their
    deletion falls in the range, so the events of the estate's history are not read."""
    return Resource.objects.filter(
        ~Q(state=ResourceState.DELETED)
        | Exists(
            ResourceEvent.objects.filter(resource_id=OuterRef("pk"), kind=E.DELETED, at__gte=start)
        ),
        Exists(ResourceEvent.objects.filter(resource_id=OuterRef("pk"), at__lt=end)),
        ~Exists(
            ResourceEvent.objects.filter(resource_id=OuterRef("pk"), kind=E.DELETED, at__lt=start)
        ),
    )


def _hour_candidates(start: datetime, end: datetime) -> QuerySet[Resource]:
    """Resources that existed at some moment of [start, end) and have no usage row for it yet,
    with their state at `start`.

    Set-based: one query with correlated subqueries on ResourceEvent (indexed by resource and
    time).
    """
    return (
        _alive_in(start, end)
        .exclude(Exists(Usage.objects.filter(resource_id=OuterRef("pk"), hour=start)))
        .annotate(
            prior_state=last_event("kind", STATE_EVENTS, start),
            prior_size=last_event("size", SIZE_EVENTS, start),
            prior_quantity=last_event("quantity", SIZE_EVENTS, start),
        )
    )


def _segments(
    resource: dict, events: list[ResourceEvent], start: datetime
) -> tuple[list[_Segment], datetime]:
    """The resource's states during the hour (from its state at `start` and the hour's events),
    and when its hour ends: at the deletion, if it was deleted."""
    segments: list[_Segment] = []
    current = None
    if resource["prior_state"] in RUNNING_AFTER:
        current = _Segment(
            start,
            RUNNING_AFTER[resource["prior_state"]],
            resource["prior_size"] or "",
            resource["prior_quantity"] or Decimal("1"),
        )
    for event in events:
        if current is not None:
            segments.append(current)
        if event.kind == E.DELETED:
            return segments, event.at
        base = current or _Segment(event.at, True, "", Decimal("1"))
        resized = event.kind in SIZE_EVENTS
        current = _Segment(
            event.at,
            RUNNING_AFTER.get(event.kind, base.running),
            (event.size or base.size) if resized else base.size,
            (event.quantity or base.quantity) if resized else base.quantity,
        )
    if current is not None:
        segments.append(current)
    return segments, start + HOUR


def _usage_row(
    resource: dict, events: list[ResourceEvent], start: datetime, book: PriceBook
) -> dict | None:
    """The resource's usage row of the hour starting at `start` (the Usage columns by attname;
    a dict, not a model instance, whose construction cost more than pricing), or None."""
    segments, end = _segments(resource, events, start)
    kind = billed_kind(kind=resource["kind"], parent_kind=resource["parent__kind"])
    hours = running_hours = cost = ZERO
    price = None
    unpriced = False
    for index, segment in enumerate(segments):
        until = segments[index + 1].start if index + 1 < len(segments) else end
        share = Decimal((until - segment.start).total_seconds()) / Decimal(3600)
        price = book.hourly(
            cloud_account_id=resource["cloud_account_id"],
            kind=kind,
            size=segment.size,
            quantity=segment.quantity,
            properties=resource["properties"],
            on=start.date(),
        )
        hours += share
        unpriced = unpriced or not price.priced
        if segment.running:
            running_hours += share
            cost += share * price.running
        else:
            cost += share * price.idle
    if price is None or hours <= 0:
        return None
    created_now = any(event.kind == E.CREATED for event in events)
    one_time = price.one_time if created_now else ZERO
    cost = (cost + one_time).quantize(MICRO, rounding=ROUND_HALF_UP)
    if cost == ZERO and not unpriced:
        return None  # a kind priced at 0 (a network): no charge, no row
    last = segments[-1]
    return dict(
        resource_id=resource["pk"],
        hour=start,
        kind=kind,
        size=last.size,
        quantity=last.quantity,
        unit="GB" if kind == "volume" else "each",
        hours=hours.quantize(MICRO, rounding=ROUND_HALF_UP),
        running_hours=running_hours.quantize(MICRO, rounding=ROUND_HALF_UP),
        rate=price.running,
        idle_rate=price.idle,
        one_time=one_time,
        cost=cost,
        **charged_to(resource),
        unpriced=unpriced,
    )


@transaction.atomic
def meter_hour(*, hour: datetime) -> int:
    """Write the usage rows of one clock hour; rows that already exist are left alone, so metering
    an hour again charges nothing twice. Returns the number of rows the hour has now.

    Resources with no event in the hour (nearly all) run or stand stopped all of it at one price:
    one INSERT … SELECT writes them, priced in SQL. The few with events in the hour (created,
    resized, stopped, deleted meanwhile) are prorated per segment in Python."""
    start = hour_floor(hour)
    end = start + HOUR
    if end > timezone.now():
        raise ValidationError({"hour": ["An hour is metered once it has ended."]})
    _jit_off()
    now = timezone.now()
    # The few resources with events in the hour, by the events' time index (not per resource).
    in_hour = ResourceEvent.objects.filter(at__gte=start, at__lt=end).values("resource_id")
    candidates = _hour_candidates(start, end)
    _quiet_insert(candidates.exclude(pk__in=in_hour), start=start, now=now)
    resources = list(candidates.filter(pk__in=in_hour).values(*CANDIDATE_FIELDS, *PRIOR))
    events: dict[int, list[ResourceEvent]] = {}
    for event in ResourceEvent.objects.filter(at__gte=start, at__lt=end).order_by("at", "id"):
        events.setdefault(event.resource_id, []).append(event)
    book = PriceBook({r["cloud_account_id"] for r in resources})
    rows = [
        row
        for resource in resources
        if (row := _usage_row(resource, events.get(resource["pk"], []), start, book)) is not None
    ]
    _usage_insert(rows, now=now)
    rollups_add(start=start, end=end, metered_at=now)
    _unpriced_announce(
        list(
            Usage.objects.filter(hour=start, unpriced=True, metered_at=now).values(
                "cloud_account_id", "kind", "size", "organization_id"
            )
        ),
        before=start,
    )
    return Usage.objects.filter(hour=start).count()


# A quiet resource's price key (its card's account, billed kind, size, GB and root disk) and the
# rest of its usage row, as SQL expressions over the candidates (aliases may not name a field).
# The billed kind is `billed_kind` in SQL: a database's server is charged as the database.
_BILLED_KIND = Case(
    When(kind="server", parent__kind="database", then=Value("database")), default=F("kind")
)
_PRICE_KEY = {
    "k_account": F("cloud_account_id"),
    "k_kind": _BILLED_KIND,
    "k_size": Coalesce(F("prior_size"), Value("")),
    # As the Python path (`prior_quantity or 1`): no quantity, or 0, bills one.
    "k_quantity": Coalesce(NullIf(F("prior_quantity"), Value(Decimal("0"))), Value(Decimal("1"))),
    "k_disk": Coalesce(Cast(KeyTextTransform("disk_gb", "properties"), CharField()), Value("")),
}
_ROW = {
    "r_resource": F("pk"),
    "r_running": Case(
        When(prior_state__in=[k for k, run in RUNNING_AFTER.items() if run], then=Value(1)),
        default=Value(0),
    ),
    **{f"r_{column}": F(path) for column, path in CHARGE_TO.items()},
}


def _quiet_insert(candidates: QuerySet[Resource], *, start: datetime, now: datetime) -> None:
    """One INSERT … SELECT … ON CONFLICT DO NOTHING for the resources that ran (or stood
    stopped) the whole hour: their prices, resolved once per distinct key with the PriceBook
    (a few hundred keys for tens of thousands of resources), are joined as a VALUES list."""
    quiet = candidates.filter(prior_state__in=list(RUNNING_AFTER))
    keys = list(quiet.values(**_PRICE_KEY).values_list(*_PRICE_KEY).distinct().order_by())
    if not keys:
        return
    book = PriceBook({key[0] for key in keys})
    prices = []
    for account, kind, size, quantity, disk in keys:
        price = book.hourly(
            cloud_account_id=account,
            kind=kind,
            size=size,
            quantity=Decimal(quantity),
            properties={"disk_gb": disk} if disk else {},
            on=start.date(),
        )
        prices.append(
            (account, kind, size, str(quantity), disk, price.running, price.idle, not price.priced)
        )
    sql, params = quiet.values(**_PRICE_KEY, **_ROW).query.sql_with_params()
    ops = connection.ops
    columns = ["resource_id", "hour", "kind", "size", "quantity", "unit", "hours"]
    columns += ["running_hours", "rate", "idle_rate", "one_time", "cost", *CHARGE_TO]
    columns += ["unpriced", "metered_at"]
    cost = "CASE WHEN c.r_running = 1 THEN p.column6 ELSE p.column7 END"
    values = ", ".join(
        ["(%s, %s, %s, CAST(%s AS NUMERIC), %s, CAST(%s AS NUMERIC), CAST(%s AS NUMERIC), %s)"]
        * len(prices)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            # MATERIALIZED: the candidates are found on their own, as by the keys' query; folded
            # into the join, a single key's constants made PostgreSQL expect one row and nest
            # loops over every order (20 s for 10,000 resources on fresh statistics).
            f"WITH c AS MATERIALIZED ({sql}) "
            f"INSERT INTO {Usage._meta.db_table} ({', '.join(map(ops.quote_name, columns))}) "
            "SELECT c.r_resource, %s, c.k_kind, c.k_size, c.k_quantity, "
            "CASE WHEN c.k_kind = 'volume' THEN 'GB' ELSE 'each' END, 1, c.r_running, "
            f"p.column6, p.column7, 0, {cost}, "
            f"{', '.join(f'c.r_{column}' for column in CHARGE_TO)}, p.column8, %s "
            f"FROM c JOIN (VALUES {values}) p ON c.k_account = p.column1 "
            "AND c.k_kind = p.column2 AND c.k_size = p.column3 AND c.k_quantity = p.column4 "
            f"AND c.k_disk = p.column5 WHERE p.column8 OR {cost} <> 0 "
            "ON CONFLICT (resource_id, hour) DO NOTHING",
            [
                *params,
                ops.adapt_datetimefield_value(start),
                ops.adapt_datetimefield_value(now),
                *(value for price in prices for value in price),
            ],
        )


def _jit_off() -> None:
    """PostgreSQL's JIT compiles the candidates' query (its estimated cost is high, its rows are
    read by index) for longer than it runs: > 1 s of an hour's metering at 20,000 resources.
    Off for this transaction only."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _unpriced_announce(rows: list[dict], *, before: datetime) -> None:
    """Tell the organization's admins, once per account, kind and size, that something runs
    that no rate card prices (it is metered at 0 until a rate is added)."""
    if not rows:
        return
    known = set(
        Usage.objects.filter(unpriced=True, hour__lt=before)
        .values_list("cloud_account_id", "kind", "size")
        .distinct()
        .order_by()
    )
    new: dict[tuple, Usage] = {}
    for row in rows:
        new.setdefault((row["cloud_account_id"], row["kind"], row["size"]), row)
    User = get_user_model()
    for (account_id, kind, size), row in new.items():
        if (account_id, kind, size) in known:
            continue
        what = f"{kind.replace('_', ' ')} size {size}" if size else kind.replace("_", " ")
        admins = User.objects.filter(
            pk__in=OrganizationMembership.objects.filter(
                organization_id=row["organization_id"], role=OrganizationRole.ADMIN
            ).values("user_id")
        ).order_by("pk")
        for admin in admins:
            notify(
                user=admin,
                subject=f"No price for {what}",
                body=f"A {what} runs on a cloud account whose rate card has no price for it; "
                "it is metered at 0 and flagged on the cost reports until a rate is added.",
                url=reverse("billing:chargeback") + "?group_by=resource&unpriced=1",
            )


def _usage_insert(rows: list[dict], *, now: datetime) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a row metered meanwhile by another run is kept as is.

    On PostgreSQL one INSERT … SELECT FROM unnest(column arrays) writes the hour: 10,000 rows
    in a fraction of a second, where the ORM's per-value preparation takes seconds. SQLite gets
    one executemany of INSERT OR IGNORE (only its datetimes need adapting), for the same reason.
    The rows it writes (not those kept) carry the run's `metered_at`, `now`.
    """
    if not rows:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        Usage.objects.bulk_create(
            (Usage(**row, metered_at=now) for row in rows), batch_size=2000, ignore_conflicts=True
        )
        return now
    fields = [f for f in Usage._meta.concrete_fields if not f.primary_key]
    # The columns a row leaves out take their defaults (unit, one_time…) and the run's marker.
    defaults = {f.attname: f.get_default() for f in fields} | {"metered_at": now}
    values = [[row.get(f.attname, defaults[f.attname]) for f in fields] for row in rows]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            adapt = [
                connection.ops.adapt_datetimefield_value
                if f.get_internal_type() == "DateTimeField"
                else None
                for f in fields
            ]
            cursor.executemany(
                f"INSERT OR IGNORE INTO {Usage._meta.db_table} ({columns}) "
                f"VALUES ({', '.join(['%s'] * len(fields))})",
                [
                    [
                        convert(value) if convert else value
                        for convert, value in zip(adapt, row, strict=True)
                    ]
                    for row in values
                ],
            )
            return
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        cursor.execute(
            f"INSERT INTO {Usage._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (resource_id, hour) DO NOTHING",
            [list(column) for column in zip(*values, strict=True)],
        )


def meter_range(*, start: datetime, end: datetime) -> int:
    """Meter every clock hour that starts in [start, end) and has ended, one transaction each."""
    if end <= start:
        raise ValidationError({"to": ["Must be after the start."]})
    end = min(end, hour_floor(timezone.now()))
    hour, rows = hour_floor(start), 0
    while hour < end:
        rows += meter_hour(hour=hour)
        hour += HOUR
    return rows


@transaction.atomic
def meter_backfill(*, start: datetime, end: datetime) -> int:
    """Meter a long range at once (months of history): the same rows as `meter_range`, from
    two queries (the resources, all their events) and one bulk insert, instead of queries per
    hour. Each resource's hours are walked in memory from its own events; hours already
    metered are kept as they are. Returns the number of rows written (or kept)."""
    if end <= start:
        raise ValidationError({"to": ["Must be after the start."]})
    start, end = hour_floor(start), min(end, hour_floor(timezone.now()))
    resources = list(_alive_in(start, end).values(*CANDIDATE_FIELDS))
    events: dict[int, list[ResourceEvent]] = {}
    for event in ResourceEvent.objects.filter(
        resource_id__in=[r["pk"] for r in resources], at__lt=end
    ).order_by("at", "id"):
        events.setdefault(event.resource_id, []).append(event)
    book = PriceBook({r["cloud_account_id"] for r in resources})
    rows: list[dict] = []
    for resource in resources:
        rows.extend(_resource_hours(resource, events.get(resource["pk"], []), start, end, book))
    now = timezone.now()
    _usage_insert(rows, now=now)
    rollups_add(start=start, end=end, metered_at=now)
    return len(rows)


def _resource_hours(
    resource: dict, events: list[ResourceEvent], start: datetime, end: datetime, book: PriceBook
) -> Iterator[dict]:
    """One resource's usage rows for the hours of [start, end), walking its events once."""
    prior = {"prior_state": None, "prior_size": None, "prior_quantity": None}
    index = 0
    hour = max(start, hour_floor(events[0].at)) if events else end
    while hour < end:
        while index < len(events) and events[index].at < hour:
            event = events[index]
            if event.kind in STATE_EVENTS:
                prior["prior_state"] = event.kind
            if event.kind in SIZE_EVENTS:
                prior["prior_size"], prior["prior_quantity"] = event.size, event.quantity
            index += 1
        if prior["prior_state"] == E.DELETED:
            return
        in_hour = []
        while index + len(in_hour) < len(events) and events[index + len(in_hour)].at < hour + HOUR:
            in_hour.append(events[index + len(in_hour)])
        row = _usage_row({**resource, **prior}, in_hour, hour, book)
        if row is not None:
            yield row
        hour += HOUR


def meter_last_hour(*, now: datetime | None = None) -> int:
    """The periodic job: meter the hour that just ended, then check the budgets."""
    end = hour_floor(now or timezone.now())
    rows = meter_hour(hour=end - HOUR)
    # What runs now starts from the new hour: the dashboard's rollup of it, recounted now rather
    # than by the first reader.
    running_rollup_refresh(now=now)
    budget_alerts_send(month=(end - HOUR).date().replace(day=1))
    return rows
