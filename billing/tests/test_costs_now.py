"""Costs finance can trust from the first minute: month to date with the accrual of what runs
now, run-rate forecasts and their alerts, no unpriced resources, versioned prices, what-if."""

import csv
import io
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing import accrual
from billing.models import BudgetAlert, Rate, RateCard, Usage
from billing.pricing import CENT, HOURS_PER_MONTH, PriceBook, monthly_quote
from billing.selectors.budgets import budget_statuses
from billing.selectors.chargeback import chargeback_report
from billing.selectors.exports import EXPORT_HEADER
from billing.selectors.periods import month_period, period_parse
from billing.services.budgets import budget_alerts_send
from billing.services.metering import hour_floor, meter_backfill, meter_hour, meter_range
from billing.services.rates import rate_problems
from billing.tests.helpers import T0, at, event, make_resource
from catalog.models import Order, OrderStatus
from core.models import Notification, OrganizationRole
from core.services import organization_membership_add
from provisioning.models import CloudAccount, Resource
from tests.fixtures import order_via_api, wait_until

pytestmark = pytest.mark.django_db

SMALL_HOURLY = Decimal("0.02")  # the demo card's small server


def _now():
    """Twenty minutes into an hour of this month (the 2nd at the earliest), for exact sums."""
    now = timezone.now()
    return max(now, now.replace(day=2)).replace(minute=20, second=0, microsecond=0)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_UP)


# --- Month to date --------------------------------------------------------------------------


def test_month_to_date_includes_what_runs_since_the_last_metered_hour(demo):
    """Before any metering: the report of this month shows the server's accrued cost (marked
    as an estimate) and its run rate; after metering, metered + accrued is the same sum."""
    now = _now()
    server = make_resource(demo, size="small")
    event(server, "created", now - timedelta(hours=5), size="small")
    period = period_parse()

    report = chargeback_report(user=demo["carol"], period=period, group_by="project", now=now)
    (row,) = report.rows
    assert report.includes_now and report.total == 0
    assert row.accrued == report.accrued == _cents(5 * SMALL_HOURLY)
    assert row.run_rate == report.run_rate == SMALL_HOURLY * HOURS_PER_MONTH

    # Metering the ended hours moves them from "accrued" to "metered"; the sum stays.
    meter_range(start=now - timedelta(hours=6), end=hour_floor(now))
    metered = chargeback_report(user=demo["carol"], period=period, group_by="project", now=now)
    assert metered.total == _cents(Decimal("4.6666667") * SMALL_HOURLY)  # 4 h 40 min
    assert metered.accrued == _cents(Decimal(20) / 60 * SMALL_HOURLY)
    assert metered.total_with_accrued == report.total_with_accrued


def test_a_past_month_has_no_accrual(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(3))
    report = chargeback_report(
        user=demo["carol"], period=month_period(T0.date()), group_by="resource"
    )
    assert not report.includes_now and report.accrued == 0
    assert report.total == _cents(3 * SMALL_HOURLY)


def test_the_accrual_is_one_query_whatever_the_number_of_running_resources(demo, query_baseline):
    now = _now()
    period = period_parse()

    def queries_for(count: int, metered: bool = False) -> int:
        for _ in range(count):
            server = make_resource(demo, size="small")
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


def test_a_completed_order_shows_in_month_to_date_at_once(demo, api_as, celery_worker_process):
    """dave's self-service order, provisioned by a real worker: once it completes, carol's
    month to date names it (the accrual is read at report time, not at the next metering)."""
    answer = api_as(demo["dave"]).post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": demo["data_lab"].pk,
            "parameters": {"name": "mtd-1", "size": "small"},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.data
    order = Order.objects.get(pk=answer.data["id"])
    wait_until(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED,
        timeout=60,
        what="the order to complete",
    )
    client = api_as(demo["carol"])

    def listed() -> bool:
        rows = client.get(f"/api/v1/chargeback/?group_by=resource&project={demo['data_lab'].pk}")
        return any(
            row["label"] == "mtd-1" and row["run_rate"] != "0.00" for row in rows.data["rows"]
        )

    wait_until(listed, timeout=60, what="the order in carol's month to date")
    report = client.get("/api/v1/chargeback/").data
    assert report["includes_now"] is True
    assert Decimal(report["run_rate"]) == Order.objects.get(pk=order.pk).estimated_monthly_cost


# --- Forecasts and their alerts --------------------------------------------------------------


def test_forecast_alerts_go_once_per_threshold_in_app_and_by_email(
    demo, django_capture_on_commit_callbacks
):
    """web-shop (50.00 a month) runs 3 medium servers: 87.60 a month. Early in the month the
    spend is far below 50 %, yet the forecast crosses 80 % and 100 %: both alerts go, once."""
    now = _now()
    for _ in range(3):
        server = make_resource(demo, size="medium")
        event(server, "created", month_period(now.date()).start, size="medium")
    month = month_period(now.date()).start.date()
    (status,) = [
        s for s in budget_statuses(month=month, now=now) if s.budget.project == demo["web_shop"]
    ]
    hours = Decimal(month_period(month).hours)
    assert status.forecast == _cents(3 * Decimal("0.04") * hours)

    with django_capture_on_commit_callbacks(execute=True):
        budget_alerts_send(month=month, now=now)
        budget_alerts_send(month=month, now=now)
    forecast_alerts = BudgetAlert.objects.filter(basis=BudgetAlert.Basis.FORECAST)
    assert sorted(forecast_alerts.values_list("threshold", flat=True)) == [80, 100]
    subjects = set(Notification.objects.values_list("subject", flat=True))
    assert f"Budget of project web-shop forecast at 100 % for {month:%B %Y}" in subjects
    # bob manages web-shop, carol is finance: each gets the email once.
    emailed = sorted(m.to[0] for m in mail.outbox if "forecast at 100 %" in m.subject)
    assert emailed == [demo["bob"].email, demo["carol"].email]


# --- No unpriced resources --------------------------------------------------------------------


def _new_account(demo, name: str) -> CloudAccount:
    account = CloudAccount.objects.create(
        name=name, organization=demo["web_shop"].organization, provider="sandbox"
    )
    account.projects.add(demo["web_shop"])
    return account


def test_a_new_account_prices_with_its_organizations_default_card(demo):
    sandbox = CloudAccount.objects.get(name="sandbox")
    fresh = _new_account(demo, "sandbox-2")
    spec = [{"kind": "server", "properties": {"size": "medium"}}]
    assert monthly_quote(cloud_account_id=fresh.pk, resources=spec) == monthly_quote(
        cloud_account_id=sandbox.pk, resources=spec
    )
    # Its own card, once it has one, wins for the kinds it prices.
    card = RateCard.objects.create(name="sandbox-2 prices", cloud_account=fresh)
    Rate.objects.create(rate_card=card, resource_kind="server", size="medium", price=Decimal("1"))
    assert monthly_quote(cloud_account_id=fresh.pk, resources=spec) == HOURS_PER_MONTH


def test_an_item_the_card_does_not_price_is_refused_with_the_reason(demo, api_as):
    card = RateCard.objects.get(organization=demo["web_shop"].organization, is_draft=False)
    card.rates.filter(resource_kind="server", size="large").delete()
    answer = order_via_api(api_as(demo["alice"]), demo, admit=False, size="large")
    assert answer.status_code == 400
    message = " ".join(answer.data["parameters"])
    assert "no price for server size large" in message and "sandbox" in message
    quote = api_as(demo["alice"]).post(
        "/api/v1/orders/quote/",
        {
            "item": "linux-vm",
            "project": demo["web_shop"].pk,
            "parameters": {"name": "q", "size": "large"},
        },
        format="json",
    )
    assert quote.status_code == 400


def test_metering_never_skips_an_unpriced_resource_and_tells_the_admins(demo):
    organization_membership_add(
        user=demo["admin"], organization=demo["web_shop"].organization, role=OrganizationRole.ADMIN
    )
    card = RateCard.objects.get(organization=demo["web_shop"].organization, is_draft=False)
    card.rates.filter(resource_kind="load_balancer").delete()
    balancer = make_resource(demo, kind="load_balancer")
    event(balancer, "created", at(0))
    meter_range(start=T0, end=at(3))
    rows = Usage.objects.filter(resource=balancer)
    assert rows.count() == 3 and all(row.unpriced and row.cost == 0 for row in rows)
    notes = Notification.objects.filter(user=demo["admin"], subject="No price for load balancer")
    assert notes.count() == 1  # once, not every hour
    report = chargeback_report(
        user=demo["carol"], period=month_period(T0.date()), group_by="resource"
    )
    assert report.unpriced == 3


# --- Prices with history ----------------------------------------------------------------------


def test_a_price_change_is_a_new_version_and_old_hours_keep_their_price(demo):
    card = RateCard.objects.get(organization=demo["web_shop"].organization, is_draft=False)
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.03"),
        effective_from=(T0 + timedelta(days=1)).date(),
    )
    meter_hour(hour=at(24))
    assert list(
        Usage.objects.filter(resource=server).order_by("hour").values_list("rate", flat=True)
    ) == [
        SMALL_HOURLY,
        Decimal("0.03"),
    ]
    book = PriceBook([server.cloud_account_id])
    applied = book.applied_rates(
        cloud_account_id=server.cloud_account_id, kind="server", size="small", on=T0.date()
    )
    assert [rate.price for rate in applied] == [SMALL_HOURLY]


def test_rates_are_checked_against_known_kinds_offered_sizes_and_closed_months(demo):
    card = RateCard.objects.get(organization=demo["web_shop"].organization, is_draft=False)
    today = timezone.now().date()
    assert (
        rate_problems(rate_card=card, resource_kind="server", size="small", effective_from=today)
        == {}
    )
    problems = rate_problems(
        rate_card=card, resource_kind="servr", size="", effective_from=today - timedelta(days=40)
    )
    assert set(problems) == {"resource_kind", "effective_from"}
    assert "server" in problems["resource_kind"][0]
    sizes = rate_problems(rate_card=card, resource_kind="server", size="huge", effective_from=today)
    assert "small" in sizes["size"][0]


def test_the_admin_shows_the_price_history_and_refuses_a_typo(demo, client):
    card = RateCard.objects.get(organization=demo["web_shop"].organization, is_draft=False)
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.025"),
        effective_from=timezone.now().date(),
    )
    client.force_login(demo["admin"])
    page = client.get(f"/admin/billing/ratecard/{card.pk}/change/").content.decode()
    assert "0.025" in page and "0.02000" in page  # both versions, read-only
    form = {
        "name": card.name, "organization": card.organization_id, "currency": "USD",
        "rates-TOTAL_FORMS": "1", "rates-INITIAL_FORMS": "0",
        "rates-0-resource_kind": "servr", "rates-0-size": "", "rates-0-unit": "hour",
        "rates-0-price": "1", "rates-0-effective_from": f"{timezone.now().date()}",
    }  # fmt: skip
    answer = client.post(f"/admin/billing/ratecard/{card.pk}/change/", form)
    assert answer.status_code == 200 and "Choose one of: server" in answer.content.decode()
    assert not Rate.objects.filter(resource_kind="servr").exists()


def test_what_if_reprices_a_month_under_a_draft_without_writing(demo, api_as):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(10))
    draft = RateCard.objects.create(
        name="next year", organization=demo["web_shop"].organization, is_draft=True
    )
    Rate.objects.create(
        rate_card=draft, resource_kind="server", size="small", price=Decimal("0.05")
    )
    before = list(Usage.objects.values_list("cost", flat=True))
    answer = api_as(demo["carol"]).get(f"/api/v1/chargeback/?period=2026-10&whatif={draft.pk}")
    assert answer.status_code == 200, answer.data
    assert answer.data["whatif_card"] == "next year"
    assert Decimal(answer.data["whatif_total"]) == 10 * Decimal("0.05")
    assert Decimal(answer.data["total"]) == 10 * SMALL_HOURLY
    assert list(Usage.objects.values_list("cost", flat=True)) == before
    # A draft prices nothing: quotes keep the live card.
    assert (
        monthly_quote(
            cloud_account_id=server.cloud_account_id,
            resources=[{"kind": "server", "properties": {"size": "small"}}],
        )
        == SMALL_HOURLY * HOURS_PER_MONTH
    )
    refused = api_as(demo["alice"]).get(f"/api/v1/chargeback/?period=2026-10&whatif={draft.pk}")
    assert refused.status_code == 400 and "whatif" in refused.data


# --- Showback, labels -------------------------------------------------------------------------


def test_showback_shows_a_member_the_whole_projects_costs(demo, api_as):
    mine = make_resource(demo, size="small")
    bobs = make_resource(demo, user="bob", size="medium")
    for server, size in [(mine, "small"), (bobs, "medium")]:
        event(server, "created", at(0), size=size)
    meter_range(start=T0, end=at(2))
    client = api_as(demo["alice"])
    charged = client.get("/api/v1/chargeback/?period=2026-10&group_by=user").data
    shown = client.get("/api/v1/showback/?period=2026-10&group_by=user").data
    assert [row["label"] for row in charged["rows"]] == ["alice"]
    assert {row["label"] for row in shown["rows"]} == {"alice", "bob"}
    finance = api_as(demo["carol"]).get("/api/v1/chargeback/?period=2026-10&group_by=user").data
    assert shown["total"] == finance["total"]


def test_csv_headers_and_group_labels_are_for_people(demo, client):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(1))
    client.force_login(demo["carol"])
    response = client.get("/costs/export.csv?period=2026-10&group_by=cost_center")
    header = next(csv.reader(io.StringIO(response.content.decode())))
    assert header[:2] == ["Cost center", "Cost (USD)"]
    assert "Resource" in EXPORT_HEADER and "Cost center" in EXPORT_HEADER  # the raw hours'
    assert not any("__" in column or "_" in column for column in header + EXPORT_HEADER)
    page = client.get("/costs/?period=2026-10&group_by=cost_center").content.decode()
    assert "Cost center" in page and "Cost_center" not in page


def test_meter_backfill_writes_what_meter_range_writes(demo):
    first = make_resource(demo, size="small")
    second = make_resource(demo, kind="volume", size_gb=100)
    event(first, "created", at(0.5), size="small")
    event(first, "resized", at(5.25), size="medium")
    event(first, "stopped", at(9.75))
    event(first, "started", at(30))
    event(first, "deleted", at(40.5))
    event(second, "created", at(2), quantity=Decimal("100"))
    meter_range(start=T0, end=at(48))
    hourly = list(
        Usage.objects.order_by("resource_id", "hour").values_list(
            "resource_id", "hour", "cost", "unpriced"
        )
    )
    Usage.objects.all().delete()
    meter_backfill(start=T0, end=at(48))
    assert (
        list(
            Usage.objects.order_by("resource_id", "hour").values_list(
                "resource_id", "hour", "cost", "unpriced"
            )
        )
        == hourly
    )
    assert meter_backfill(start=T0, end=at(48)) == len(hourly)  # again: nothing charged twice
    assert Usage.objects.count() == len(hourly)
