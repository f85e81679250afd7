"""Metering: hourly usage rows from lifecycle events, exact, explainable, never charged twice,
never skipping an unpriced resource; the periodic task meters the hour that ended, the
backfill writes what metering writes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from billing.models import Rate, Unit, Usage
from billing.pricing import HOURS_PER_MONTH, monthly_quote
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.services.metering import meter_backfill, meter_hour, meter_last_hour, meter_range
from billing.tests.helpers import T0, at, event, make_resource, usage_of
from core.models import Notification
from core.tests.factories import admin_of
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def test_metering_twice_changes_nothing(world):
    server = make_resource(world, size="small")
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


def test_a_usage_row_remembers_who_pays(world):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    row = Usage.objects.get()
    assert (row.project, row.cost_center, row.organization, row.user) == (
        world["web_shop"],
        "CC-100",
        world["web_shop"].organization,
        world["alice"],
    )
    assert (row.catalog_item, row.provider, row.kind, row.size) == (
        world["linux_vm"],
        "sandbox",
        "server",
        "small",
    )


def test_quote_is_the_first_full_metered_hour_times_730(world):
    """One pricing engine: quote / 730 = what a full running hour is metered at."""
    account = world["sandbox"]
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
            make_resource(world, kind=kind, parent=parent),
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
    database = make_resource(world, kind="database", size="small", storage_gb=50)
    created("server", "small", parent=database)
    created("volume", quantity=Decimal("50"), parent=database)
    group = make_resource(world, kind="autoscaling_group", size="small", desired=2)
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


def test_a_stopped_server_pays_only_its_storage(world):
    card = world["rate_card"]
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.GB_MONTH, price=Decimal("0.073")
    )
    server = make_resource(world, size="small", disk_gb=20)
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


def test_a_deleted_resource_stops_at_the_moment_of_deletion(world):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    event(server, "deleted", at(1.5))
    meter_range(start=T0, end=at(4))
    assert usage_of(server) == {at(0): Decimal("0.020000"), at(1): Decimal("0.010000")}


def test_a_resize_changes_the_rate_from_its_moment(world):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    event(server, "resized", at(1.5), size="large")
    meter_range(start=T0, end=at(3))
    assert usage_of(server) == {
        at(0): Decimal("0.020000"),
        at(1): Decimal("0.050000"),  # half an hour small, half an hour large
        at(2): Decimal("0.080000"),
    }
    assert Usage.objects.get(hour=at(2)).size == "large"


def test_a_rate_change_applies_from_its_effective_date(world):
    card = world["rate_card"]
    Rate.objects.create(
        rate_card=card,
        resource_kind="server",
        size="small",
        price=Decimal("0.03"),
        effective_from=(T0 + timedelta(days=1)).date(),
    )
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_hour(hour=at(0))
    meter_hour(hour=at(24))
    assert usage_of(server) == {at(0): Decimal("0.020000"), at(24): Decimal("0.030000")}


def test_per_vcpu_and_ram_rates_use_the_provider_sizes(world):
    """A card may price servers by vCPU-hour and GB-RAM-hour instead of by size."""
    card = world["rate_card"]
    card.rates.filter(resource_kind="server").delete()
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.VCPU_HOUR, price=Decimal("0.01")
    )
    Rate.objects.create(
        rate_card=card, resource_kind="server", unit=Unit.RAM_GB_HOUR, price=Decimal("0.005")
    )
    spec = {"key": "vm", "kind": "server", "name": "vm", "count": 1, "depends_on": [],
            "properties": {"size": "medium"}}  # fmt: skip
    sandbox = world["sandbox"]  # priced by Acme's default card
    quote = monthly_quote(cloud_account_id=sandbox.pk, resources=[spec])
    server = make_resource(world, size="medium")
    event(server, "created", at(0), size="medium")
    meter_hour(hour=at(0))
    # the sandbox's medium: 2 vCPUs and 4 GB of RAM
    assert usage_of(server) == {at(0): Decimal("0.040000")}
    assert quote == Decimal("0.04") * HOURS_PER_MONTH


def test_an_hour_of_a_mixed_population_is_metered_row_for_row(world):
    """The quiet resources (written by one INSERT … SELECT) and those with events in the hour
    (prorated in Python) give the rows a person works out from the world's rates."""
    card = world["rate_card"]
    card.rates.filter(resource_kind="load_balancer").delete()

    def server(*events, kind="server", parent=None, **properties):
        resource = make_resource(world, kind=kind, parent=parent, **properties)
        for what, when, *size in events:
            event(resource, what, when, size=size[0] if size else "")
        return resource

    running = server(("created", at(0), "small"))
    stopped = server(("created", at(0), "small"), ("stopped", at(0.5)))
    volume = make_resource(world, kind="volume")
    event(volume, "created", at(0), quantity=Decimal("20"))
    unpriced = server(("created", at(0)), kind="load_balancer")
    resized = server(("created", at(0), "small"), ("resized", at(1.5), "large"))
    deleted = server(("created", at(0), "small"), ("deleted", at(1.25)))
    observed = server(("created", at(0), "small"))
    Resource.objects.filter(pk=observed.pk).update(observe_only=True)
    server(("created", at(0), "small"), ("deleted", at(0.5)))  # gone before the hour
    server(("created", at(2), "small"))  # not yet there
    database = make_resource(world, kind="database", size="small")
    database_server = server(("created", at(0), "small"), parent=database)

    meter_hour(hour=at(1))
    columns = ("kind", "size", "quantity", "unit", "hours", "running_hours", "cost", "unpriced")
    rows = {
        row.pop("resource_id"): tuple(row.values())
        for row in Usage.objects.filter(hour=at(1)).values("resource_id", *columns)
    }
    d = Decimal
    assert rows == {
        running.pk: ("server", "small", d(1), "each", d(1), d(1), d("0.02"), False),
        volume.pk: ("volume", "", d(20), "GB", d(1), d(1), d("0.002740"), False),  # 20*0.10/730
        unpriced.pk: ("load_balancer", "", d(1), "each", d(1), d(1), d(0), True),
        # half an hour small at 0.02, half an hour large at 0.08
        resized.pk: ("server", "large", d(1), "each", d(1), d(1), d("0.05"), False),
        deleted.pk: ("server", "small", d(1), "each", d("0.25"), d("0.25"), d("0.005"), False),
        observed.pk: ("server", "small", d(1), "each", d(1), d(1), d("0.02"), False),
        database_server.pk: ("database", "small", d(1), "each", d(1), d(1), d("0.05"), False),
    }
    assert stopped.pk not in rows  # stopped all hour, nothing charged while stopped
    before = list(Usage.objects.order_by("pk").values())
    meter_hour(hour=at(1))
    assert list(Usage.objects.order_by("pk").values()) == before


def test_the_periodic_task_meters_the_hour_that_ended(world):
    server = make_resource(world, size="small")
    now = timezone.now()
    event(server, "created", now - timedelta(hours=3), size="small")
    meter_last_hour(now=now)
    last_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    assert list(Usage.objects.values_list("hour", "cost")) == [(last_hour, Decimal("0.020000"))]


def test_an_hour_is_metered_only_once_it_has_ended(world):
    with pytest.raises(ValidationError):
        meter_hour(hour=timezone.now())


def test_metering_never_skips_an_unpriced_resource_and_tells_the_admins(world):
    admin_of(world["organization"], world["admin"])
    card = world["rate_card"]
    card.rates.filter(resource_kind="load_balancer").delete()
    balancer = make_resource(world, kind="load_balancer")
    event(balancer, "created", at(0))
    meter_range(start=T0, end=at(3))
    rows = Usage.objects.filter(resource=balancer)
    assert rows.count() == 3 and all(row.unpriced and row.cost == 0 for row in rows)
    notes = Notification.objects.filter(user=world["admin"], subject="No price for load balancer")
    assert notes.count() == 1  # once, not every hour
    report = chargeback_report(
        user=world["carol"], period=month_period(T0.date()), group_by="resource"
    )
    assert report.unpriced == 3


def test_meter_backfill_writes_what_meter_range_writes(world):
    first = make_resource(world, size="small")
    second = make_resource(world, kind="volume", size_gb=100)
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
