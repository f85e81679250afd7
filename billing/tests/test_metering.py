"""Metering: hourly usage rows from lifecycle events, exact, explainable, never charged twice."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from billing.models import Rate, Unit, Usage
from billing.pricing import HOURS_PER_MONTH, monthly_quote
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.services.metering import meter_hour, meter_range
from billing.tests.helpers import T0, at, event, make_resource, usage_of
from provisioning.models import CloudAccount, Resource
from provisioning.selectors import cloud_account_options

pytestmark = pytest.mark.django_db


def test_metering_twice_changes_nothing(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0.25), size="small")
    meter_range(start=T0, end=at(3))
    first = list(Usage.objects.order_by("hour").values("hour", "cost", "hours", "metered_at"))
    meter_range(start=T0, end=at(3))
    meter_hour(hour=at(1))
    assert list(Usage.objects.order_by("hour").values("hour", "cost", "hours", "metered_at")) == (
        first
    )
    # 45 minutes of the first hour, then full hours at 0.02/h.
    assert usage_of(server) == {
        at(0): Decimal("0.015000"),
        at(1): Decimal("0.020000"),
        at(2): Decimal("0.020000"),
    }


def test_a_usage_row_remembers_who_pays(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    row = Usage.objects.get()
    assert (row.project, row.cost_center, row.organization, row.user) == (
        demo["web_shop"],
        "CC-100",
        demo["web_shop"].organization,
        demo["alice"],
    )
    assert (row.catalog_item, row.provider, row.kind, row.size) == (
        demo["linux_vm"],
        "sandbox",
        "server",
        "small",
    )


def test_quote_is_the_first_full_metered_hour_times_730(demo):
    """One pricing engine: quote / 730 = what a full running hour is metered at."""
    account = CloudAccount.objects.get(name="sandbox")
    specs = [
        {"key": "web", "kind": "server", "name": "web", "count": 2, "depends_on": [],
         "properties": {"size": "medium"}},
        {"key": "data", "kind": "volume", "name": "data", "count": 2, "depends_on": ["web"],
         "properties": {"size_gb": 20, "attach_to": "web"}},
        {"key": "lb", "kind": "load_balancer", "name": "lb", "count": 1, "depends_on": ["web"],
         "properties": {"protocol": "http", "port": 80, "members": "web"}},
        {"key": "dns", "kind": "dns_record", "name": "www", "count": 1, "depends_on": ["lb"],
         "properties": {"zone": "example.com", "record": "www", "type": "A", "target": "lb"}},
        {"key": "db", "kind": "database", "name": "db", "count": 1, "depends_on": [],
         "properties": {"engine": "postgresql", "size": "small", "storage_gb": 50}},
        {"key": "asg", "kind": "autoscaling_group", "name": "app", "count": 1, "depends_on": [],
         "properties": {"size": "small", "min": 1, "max": 4, "desired": 2}},
    ]  # fmt: skip
    quote = monthly_quote(cloud_account_id=account.pk, resources=specs)

    # What provisioning builds (composites get no events; their servers and volumes do).
    def created(kind, size="", quantity=Decimal("1"), parent=None):
        event(
            make_resource(demo, kind=kind, parent=parent),
            "created",
            at(0.5),
            size=size,
            quantity=quantity,
        )

    for _ in range(2):
        created("server", "medium")
        created("volume", quantity=Decimal("20"))
    created("load_balancer")
    created("dns_record")
    database = make_resource(demo, kind="database", size="small", storage_gb=50)
    created("server", "small", parent=database)
    created("volume", quantity=Decimal("50"), parent=database)
    group = make_resource(demo, kind="autoscaling_group", size="small", desired=2)
    created("server", "small", parent=group)
    created("server", "small", parent=group)  # fmt: skip

    meter_range(start=T0, end=at(2))
    full_hour = Usage.objects.filter(hour=at(1)).aggregate(total=Sum("cost"))["total"]
    # 2*0.04 + 2*20 GB*0.10/730 + 0.025 + 0.50/730 + (0.05 + 50 GB*0.10/730) + 2*0.02
    assert quote == Decimal("151.85")
    assert quote == (full_hour * HOURS_PER_MONTH).quantize(Decimal("0.01"))
    assert Usage.objects.filter(hour=at(0)).aggregate(total=Sum("cost"))["total"] < full_hour
    assert set(Usage.objects.values_list("kind", flat=True)) == {
        "server", "volume", "load_balancer", "dns_record", "database"
    }  # fmt: skip


def test_a_stopped_server_pays_only_its_storage(demo):
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.GB_MONTH, price=Decimal("0.073")
    )
    server = make_resource(demo, size="small", disk_gb=20)
    event(server, "created", at(0), size="small")
    event(server, "stopped", at(1))
    event(server, "started", at(2.5))
    meter_range(start=T0, end=at(3))
    storage = Decimal("0.002000")  # 20 GB * 0.073 / 730 per hour
    assert usage_of(server) == {
        at(0): Decimal("0.020000") + storage,
        at(1): storage,
        at(2): storage / 2 + (Decimal("0.020000") + storage) / 2,
    }
    assert Usage.objects.get(hour=at(1)).running_hours == 0


def test_a_deleted_resource_stops_at_the_moment_of_deletion(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    event(server, "deleted", at(1.5))
    meter_range(start=T0, end=at(4))
    assert usage_of(server) == {at(0): Decimal("0.020000"), at(1): Decimal("0.010000")}


def test_a_resize_changes_the_rate_from_its_moment(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    event(server, "resized", at(1.5), size="large")
    meter_range(start=T0, end=at(3))
    assert usage_of(server) == {
        at(0): Decimal("0.020000"),
        at(1): Decimal("0.050000"),  # half an hour small, half an hour large
        at(2): Decimal("0.080000"),
    }
    assert Usage.objects.get(hour=at(2)).size == "large"


def test_a_rate_change_applies_from_its_effective_date(demo):
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.03"),
        effective_from=(T0 + timedelta(days=1)).date(),
    )
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    meter_hour(hour=at(24))
    assert usage_of(server) == {at(0): Decimal("0.020000"), at(24): Decimal("0.030000")}


def test_meter_command_backfills_a_range(demo):
    server = make_resource(demo, size="small")
    event(server, "created", at(0), size="small")
    out = StringIO()
    call_command("meter", "--from", "2026-10-05T10:00", "--to", "2026-10-05T16:00", stdout=out)
    assert Usage.objects.filter(resource=server).count() == 6
    assert "6 hours" in out.getvalue()


def test_end_to_end_an_order_is_metered_at_its_quote(demo):
    """Order → approve → provision → stop: the real lifecycle events are metered, and a full
    running hour costs the order's quote / 730."""
    from approvals.services.deciding import approval_decide
    from catalog.orders import order_admit, order_deploy
    from catalog.services import order_submit
    from provisioning.models import Step
    from provisioning.services import resource_action_request, step_execute

    def run_steps():
        while step := Step.objects.filter(state="pending").order_by("id").first():
            step_execute(step_id=step.pk)

    order = order_submit(
        user=demo["alice"],
        item=demo["linux_vm"],
        project=demo["web_shop"],
        parameters={"name": "vm-1", "size": "medium"},
    )
    order_admit(order_id=order.pk)
    approval_decide(user=demo["bob"], approval_id=order.approval.pk, approve=True)
    order_deploy(order_id=order.pk)  # as the worker would
    run_steps()
    server = Resource.objects.get(order=order, kind="server")
    resource_action_request(user=demo["alice"], resource_id=server.pk, action="stop")
    run_steps()
    kinds = list(server.events.values_list("kind", flat=True))
    assert kinds == ["created", "stopped"]
    # As if it had all happened in October: created at 10:30, stopped at 12:00.
    server.events.filter(kind="created").update(at=at(0.5))
    server.events.filter(kind="stopped").update(at=at(2))
    meter_range(start=T0, end=at(4))
    assert usage_of(server)[at(1)] * HOURS_PER_MONTH == order.estimated_monthly_cost
    assert set(usage_of(server)) == {at(0), at(1)}  # stopped, no storage rate: no charge
    report = chargeback_report(
        user=demo["alice"], period=month_period(T0.date()), group_by="catalog_item"
    )
    assert [(row.label, row.cost) for row in report.rows] == [
        (demo["linux_vm"].name, Decimal("0.06"))  # half an hour and an hour at 0.04
    ]


def test_per_vcpu_and_ram_rates_use_the_provider_sizes(demo):
    """A card may price servers by vCPU-hour and GB-RAM-hour instead of by size."""
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    card.rates.filter(resource_kind="server").delete()
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.VCPU_HOUR, price=Decimal("0.01")
    )
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.RAM_GB_HOUR, price=Decimal("0.005")
    )
    spec = {"key": "vm", "kind": "server", "name": "vm", "count": 1, "depends_on": [],
            "properties": {"size": "medium"}}  # fmt: skip
    sandbox = CloudAccount.objects.get(name="sandbox")  # priced by Acme's default card
    quote = monthly_quote(cloud_account_id=sandbox.pk, resources=[spec])
    server = make_resource(demo, size="medium")
    event(server, "created", at(0), size="medium")
    meter_hour(hour=at(0))
    # the sandbox's medium: 2 vCPUs and 4 GB of RAM
    assert usage_of(server) == {at(0): Decimal("0.040000")}
    assert quote == Decimal("0.04") * HOURS_PER_MONTH


def test_a_quote_looks_the_account_up_once_however_many_servers(demo):
    """Size facts are per account and size, not per priced resource (here: per root disk)."""
    card = Rate.objects.get(resource_kind="server", size="small").rate_card
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.VCPU_HOUR, price=Decimal("0.01")
    )
    specs = [
        {"key": f"vm{gb}", "kind": "server", "name": f"vm{gb}", "count": 1, "depends_on": [],
         "properties": {"size": "medium", "disk_gb": gb}}
        for gb in (10, 20, 30)
    ]  # fmt: skip
    sandbox = CloudAccount.objects.get(name="sandbox")  # priced by Acme's default card
    cloud_account_options(account=sandbox)  # the provider's size list, cached
    with CaptureQueriesContext(connection) as queries:
        monthly_quote(cloud_account_id=sandbox.pk, resources=specs)
    table = CloudAccount._meta.db_table
    assert sum(f'FROM "{table}"' in q["sql"] for q in queries.captured_queries) == 1
