"""Writes for billing: meter hours into usage rows, alert on budgets, close monthly statements."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from billing import selectors
from billing.accrual import (
    HOUR,
    RUNNING_AFTER,
    SIZE_EVENTS,
    STATE_EVENTS,
    E,
    last_event,
)
from billing.models import Budget, BudgetAlert, RateCard, Statement, StatementLine, Usage
from billing.pricing import BILLABLE_KINDS, CENT, MICRO, ZERO, PriceBook, billed_kind
from core.models import OrganizationMembership, OrganizationRole, ProjectMembership, ProjectRole
from core.services import audit_record, notify
from provisioning.models import CloudAccount, Resource, ResourceEvent
from provisioning.selectors import cloud_account_options

BUDGET_THRESHOLDS = (50, 80, 100)
# The forecast alerts earlier than the spend: at 80 % and when it will overrun.
FORECAST_THRESHOLDS = (80, 100)


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
CANDIDATE_FIELDS = (
    "pk",
    "kind",
    "parent__kind",
    "properties",
    "project_id",
    "project__cost_center",
    "project__organization_id",
    "order__requester_id",
    "order__item_id",
    "cloud_account_id",
    "cloud_account__provider",
)


def _hour_candidates(start: datetime, end: datetime):
    """Resources that existed at some moment of [start, end) and have no usage row for it yet,
    with their state at `start`.

    Set-based: one query with correlated subqueries on ResourceEvent (indexed by resource and
    time).
    """
    return (
        Resource.objects.filter(
            Exists(ResourceEvent.objects.filter(resource_id=OuterRef("pk"), at__lt=end)),
            ~Exists(
                ResourceEvent.objects.filter(
                    resource_id=OuterRef("pk"), kind=E.DELETED, at__lt=start
                )
            ),
        )
        .exclude(Exists(Usage.objects.filter(resource_id=OuterRef("pk"), hour=start)))
        .annotate(
            prior_state=last_event("kind", STATE_EVENTS, start),
            prior_size=last_event("size", SIZE_EVENTS, start),
            prior_quantity=last_event("quantity", SIZE_EVENTS, start),
        )
        .values(*CANDIDATE_FIELDS, "prior_state", "prior_size", "prior_quantity")
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
) -> Usage | None:
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
    return Usage(
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
        organization_id=resource["project__organization_id"],
        project_id=resource["project_id"],
        cost_center=resource["project__cost_center"],
        user_id=resource["order__requester_id"],
        catalog_item_id=resource["order__item_id"],
        cloud_account_id=resource["cloud_account_id"],
        provider=resource["cloud_account__provider"],
        unpriced=unpriced,
    )


@transaction.atomic
def meter_hour(*, hour: datetime) -> int:
    """Write the usage rows of one clock hour; rows that already exist are left alone, so metering
    an hour again charges nothing twice. Returns the number of rows the hour has now."""
    start = hour_floor(hour)
    end = start + HOUR
    if end > timezone.now():
        raise ValidationError({"hour": ["An hour is metered once it has ended."]})
    resources = list(_hour_candidates(start, end))
    events: dict[int, list[ResourceEvent]] = {}
    for event in ResourceEvent.objects.filter(at__gte=start, at__lt=end).order_by("at", "id"):
        events.setdefault(event.resource_id, []).append(event)
    book = PriceBook({r["cloud_account_id"] for r in resources})
    rows = [
        row
        for resource in resources
        if (row := _usage_row(resource, events.get(resource["pk"], []), start, book)) is not None
    ]
    _usage_insert(rows)
    _unpriced_announce([row for row in rows if row.unpriced], before=start)
    return Usage.objects.filter(hour=start).count()


def _unpriced_announce(rows: list[Usage], *, before: datetime) -> None:
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
        new.setdefault((row.cloud_account_id, row.kind, row.size), row)
    User = get_user_model()
    for (account_id, kind, size), row in new.items():
        if (account_id, kind, size) in known:
            continue
        what = f"{kind.replace('_', ' ')} size {size}" if size else kind.replace("_", " ")
        admins = User.objects.filter(
            pk__in=OrganizationMembership.objects.filter(
                organization_id=row.organization_id, role=OrganizationRole.ADMIN
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


def _usage_insert(rows: list[Usage]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a row metered meanwhile by another run is kept as is.

    On PostgreSQL one INSERT … SELECT FROM unnest(column arrays) writes the hour: 10,000 rows
    in a fraction of a second, where the ORM's per-value preparation takes seconds. SQLite gets
    one executemany of INSERT OR IGNORE (only its datetimes need adapting), for the same reason.
    """
    if not rows:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        Usage.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
        return
    now = timezone.now()
    for row in rows:
        row.metered_at = now
    fields = [f for f in Usage._meta.concrete_fields if not f.primary_key]
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
                        for convert, value in zip(
                            adapt, (getattr(row, f.attname) for f in fields), strict=True
                        )
                    ]
                    for row in rows
                ],
            )
            return
        arrays = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
        cursor.execute(
            f"INSERT INTO {Usage._meta.db_table} ({columns}) SELECT * FROM unnest({arrays}) "
            "ON CONFLICT (resource_id, hour) DO NOTHING",
            [[getattr(row, f.attname) for row in rows] for f in fields],
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
    resources = list(
        Resource.objects.filter(
            Exists(ResourceEvent.objects.filter(resource_id=OuterRef("pk"), at__lt=end)),
            ~Exists(
                ResourceEvent.objects.filter(
                    resource_id=OuterRef("pk"), kind=E.DELETED, at__lt=start
                )
            ),
        ).values(*CANDIDATE_FIELDS)
    )
    events: dict[int, list[ResourceEvent]] = {}
    for event in ResourceEvent.objects.filter(
        resource_id__in=[r["pk"] for r in resources], at__lt=end
    ).order_by("at", "id"):
        events.setdefault(event.resource_id, []).append(event)
    book = PriceBook({r["cloud_account_id"] for r in resources})
    rows: list[Usage] = []
    for resource in resources:
        rows.extend(_resource_hours(resource, events.get(resource["pk"], []), start, end, book))
    _usage_insert(rows)
    return len(rows)


def _resource_hours(
    resource: dict, events: list[ResourceEvent], start: datetime, end: datetime, book: PriceBook
) -> Iterator[Usage]:
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
    budget_alerts_send(month=(end - HOUR).date().replace(day=1))
    return rows


# --- Budgets ----------------------------------------------------------------------------------


BUDGET_FIELDS = {"project", "cost_center", "monthly_amount", "refuse_orders_over_budget"}


def budget_can_change(*, user: AbstractUser, organization_id: int) -> bool:
    """Finance and admins of the organization (and staff) set its budgets."""
    return (
        user.is_staff
        or OrganizationMembership.objects.filter(
            user=user,
            organization_id=organization_id,
            role__in=[OrganizationRole.FINANCE, OrganizationRole.ADMIN],
        ).exists()
    )


@transaction.atomic
def budget_save(
    *, user: AbstractUser, budget: Budget | None = None, organization_id: int, data: dict
) -> Budget:
    """Create or change a budget of a project or a cost center of the organization."""
    if not budget_can_change(user=user, organization_id=organization_id):
        raise PermissionDenied("Only the organization's finance people and admins set budgets.")
    unknown = set(data) - BUDGET_FIELDS
    if unknown:
        raise ValidationError({name: ["Not a budget field."] for name in unknown})
    budget = budget or Budget(organization_id=organization_id)
    before = str(budget) if budget.pk else ""
    for name, value in data.items():
        setattr(budget, name, value)
    if budget.project is not None:
        if budget.project.organization_id != organization_id:
            raise ValidationError({"project": ["Choose a project of this organization."]})
        budget.cost_center = ""
    elif not budget.cost_center:
        raise ValidationError({"project": ["Choose a project, or give a cost center."]})
    clash = selectors.budget_clash(budget=budget)
    if clash:
        raise ValidationError(clash)
    budget.full_clean()
    budget.save()
    audit_record(
        action="budget.changed" if before else "budget.created",
        target=budget,
        actor=user,
        message=f"{before} → {budget}" if before else str(budget),
    )
    return budget


@transaction.atomic
def budget_delete(*, user: AbstractUser, budget: Budget) -> None:
    """Remove a budget (finance and admins of its organization); its alerts go with it."""
    if not budget_can_change(user=user, organization_id=budget.organization_id):
        raise PermissionDenied("Only the organization's finance people and admins set budgets.")
    audit_record(action="budget.deleted", target=budget, actor=user, message=str(budget))
    budget.delete()


def _budget_recipients(budget: Budget) -> list:
    """The project's managers (for a project budget) and the organization's finance people."""
    User = get_user_model()
    managers = (
        ProjectMembership.objects.filter(project_id=budget.project_id, role=ProjectRole.MANAGER)
        if budget.project_id
        else ProjectMembership.objects.none()
    )
    finance = OrganizationMembership.objects.filter(
        organization_id=budget.organization_id, role=OrganizationRole.FINANCE
    )
    return list(
        User.objects.filter(
            Q(pk__in=managers.values("user_id")) | Q(pk__in=finance.values("user_id"))
        ).order_by("pk")
    )


def _alert_text(status: selectors.BudgetStatus, basis: str, threshold: int) -> tuple[str, str]:
    budget, currency, month = status.budget, status.currency, status.month
    if basis == BudgetAlert.Basis.FORECAST:
        subject = f"Budget of {budget.label} forecast at {threshold} % for {month:%B %Y}"
    else:
        subject = f"Budget of {budget.label} at {threshold} % for {month:%B %Y}"
    body = (
        f"{budget.label} has spent {status.spent_with_accrued} {currency} of its "
        f"{budget.monthly_amount} {currency} budget for {month:%B %Y} "
        f"({status.accrued} {currency} of it estimated until metered); what runs now costs "
        f"{status.monthly_run_rate} {currency} a month, so the month is forecast to end at "
        f"{status.forecast} {currency} ({status.forecast_percent} % of the budget)."
    )
    return subject, body


@transaction.atomic
def budget_alerts_send(*, month: date, now: datetime | None = None) -> list[BudgetAlert]:
    """Alert once per budget, month, basis and threshold crossed: the spend (metered plus
    accrued) at 50/80/100 %, the month-end forecast at 80/100 % (the BudgetAlert row is the
    'once'). In-app and by email, to the project's managers and the organization's finance."""
    sent = []
    # Alerts already sent this month, read once: the loop then only writes the new ones.
    already = set(
        BudgetAlert.objects.filter(month=month).values_list("budget_id", "basis", "threshold")
    )
    now = now or timezone.now()
    # A forecast is about a month still running; an ended month has only its spend.
    running_month = selectors.period_includes_now(selectors.month_period(month), now)
    for status in selectors.budget_statuses(month=month, now=now):
        crossed = [
            (BudgetAlert.Basis.SPENT, t) for t in BUDGET_THRESHOLDS if status.percent >= t
        ] + [
            (BudgetAlert.Basis.FORECAST, t)
            for t in FORECAST_THRESHOLDS
            if running_month and status.forecast_percent >= t
        ]
        for basis, threshold in crossed:
            if (status.budget.pk, basis, threshold) in already:
                continue
            alert, created = BudgetAlert.objects.get_or_create(
                budget=status.budget,
                month=month,
                threshold=threshold,
                basis=basis,
                defaults={"spent": status.spent_with_accrued, "forecast": status.forecast},
            )
            if not created:
                continue
            subject, body = _alert_text(status, basis, threshold)
            url = f"{reverse('billing:budget_list')}?period={month:%Y-%m}"
            for user in _budget_recipients(status.budget):
                notify(user=user, subject=subject, body=body, url=url)
            sent.append(alert)
    return sent


# --- Rates -------------------------------------------------------------------------------------


def _offered_sizes(card: RateCard) -> set[str] | None:
    """The sizes the card's accounts offer (an organization's card: all its accounts'; the
    installation's default: every account's); None when no account has listed its sizes yet."""
    accounts = CloudAccount.objects.all()
    if card.cloud_account_id:
        accounts = accounts.filter(pk=card.cloud_account_id)
    elif card.organization_id:
        accounts = accounts.filter(organization_id=card.organization_id)
    sizes = {
        size.id for account in accounts for size in cloud_account_options(account=account)["sizes"]
    }
    return sizes or None


def rate_problems(
    *, rate_card: RateCard | None, resource_kind: str, size: str, effective_from: date
) -> dict[str, list[str]]:
    """Why a new rate may not be added, by field (empty: it may). The kind must be one Canopy
    bills, a size one the card's accounts offer, and the date not before this month: months
    before are metered (maybe closed), and keep their prices. A draft card (what-if) may price
    any date. `rate_card` None: a card being created, checked as an organization-wide one."""
    problems: dict[str, list[str]] = {}
    if resource_kind not in BILLABLE_KINDS:
        problems["resource_kind"] = [f"Choose one of: {', '.join(BILLABLE_KINDS)}."]
    if size and resource_kind not in ("server", "database"):
        problems["size"] = ["Only servers and databases have sizes; leave it empty."]
    elif size and rate_card is not None:
        offered = _offered_sizes(rate_card)
        if offered is not None and size not in offered:
            problems["size"] = [
                f"No account of this card offers {size!r}: {', '.join(sorted(offered))}."
            ]
    first_day = selectors.month_start(timezone.now().date())
    if effective_from < first_day and not (rate_card and rate_card.is_draft):
        problems["effective_from"] = [
            f"A new price starts on {first_day} or later: earlier months keep their prices."
        ]
    return problems


# --- Statements -------------------------------------------------------------------------------


@transaction.atomic
def statements_close(*, month: date) -> list[Statement]:
    """Close `month` for every cost center: its usage rows plus any row left over from a month
    already closed (an adjustment) go on one immutable statement. Closing again does nothing."""
    month = selectors.month_start(month)
    end = selectors.month_period(month).end
    if end > timezone.now():
        raise ValidationError({"month": ["A month can only be closed after it ended."]})
    open_rows = Usage.objects.filter(statement__isnull=True, hour__lt=end)
    centers = open_rows.values_list("organization_id", "cost_center").distinct().order_by()
    statements = []
    for organization_id, cost_center in list(centers):
        if Statement.objects.filter(
            organization_id=organization_id, cost_center=cost_center, month=month
        ).exists():
            continue  # closed before; rows metered since wait for the next month's statement
        statement = Statement.objects.create(
            organization_id=organization_id,
            cost_center=cost_center,
            month=month,
            currency=selectors.organization_currency(organization_id=organization_id),
            total=ZERO,
        )
        # Claim the rows first (one UPDATE), then sum exactly what was claimed: a row metered
        # meanwhile is either on this statement and in its lines, or on the next one.
        open_rows.filter(organization_id=organization_id, cost_center=cost_center).update(
            statement=statement
        )
        lines = StatementLine.objects.bulk_create(
            StatementLine(
                statement=statement,
                project_id=line["project_id"],
                kind=line["kind"],
                usage_month=line["usage_month"].date(),
                hours=line["hours"],
                cost=line["cost"].quantize(CENT, ROUND_HALF_UP),
            )
            for line in Usage.objects.filter(statement=statement)
            .annotate(usage_month=TruncMonth("hour"))
            .values("project_id", "kind", "usage_month")
            .annotate(hours=Sum("hours"), cost=Sum("cost"))
            .order_by("usage_month", "project_id", "kind")
        )
        statement.total = sum((line.cost for line in lines), ZERO)
        statement.save(update_fields=["total"])
        statements.append(statement)
    return statements
