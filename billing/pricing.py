"""The one pricing engine: the order quote, the approval rule's cost, the budget check and the
metered charge all come from `PriceBook.hourly`, so they agree to the cent.

Every rate becomes a price per hour, rounded to 6 decimals once: a quote is that hourly price
* 730 (the cloud industry's hours per month) rounded to the cent, and one metered full hour is
exactly that hourly price.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q
from django.utils import timezone

from billing.models import Rate, Unit
from provisioning.models import CloudAccount
from provisioning.selectors import size_info

HOURS_PER_MONTH = Decimal("730")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")  # the precision of hourly prices and metered costs
ZERO = Decimal("0")

# Rates charged only while a server (or database) runs; the others are charged while it exists.
RUNNING_UNITS = {Unit.HOUR, Unit.VCPU_HOUR, Unit.RAM_GB_HOUR}


@dataclass(frozen=True)
class HourlyPrice:
    """What one resource costs per hour: while running, while stopped, and once at creation."""

    running: Decimal
    idle: Decimal
    one_time: Decimal


def billed_kind(*, kind: str, parent_kind: str | None) -> str:
    """The kind a resource is charged as: a database's server is charged at the database rate
    (its data volume stays a volume; an autoscaling group's servers stay servers)."""
    return "database" if kind == "server" and parent_kind == "database" else kind


def storage_gb(*, kind: str, quantity: Decimal, properties: dict, disk_gb: int = 0) -> Decimal:
    """The GB a `gb_month` rate applies to: a volume's size, else the root disk's."""
    if kind == "volume":
        return Decimal(quantity)
    return Decimal(str(properties.get("disk_gb") or disk_gb or 0))


def card_rates(cloud_account_ids: Iterable[int | None]) -> list[Rate]:
    """Every rate of the accounts' own cards and of the default card: what a PriceBook of
    those accounts prices with."""
    ids = {pk for pk in cloud_account_ids if pk is not None}
    return list(
        Rate.objects.filter(
            Q(rate_card__cloud_account_id__in=ids) | Q(rate_card__cloud_account__isnull=True)
        ).select_related("rate_card")
    )


class PriceBook:
    """The rates of some cloud accounts (and the default card), loaded once and priced in memory:
    metering prices thousands of resources an hour with one query.

    `rates` (`card_rates` of the same accounts) and `accounts` may be given by a caller that
    already holds them, so the book reads nothing."""

    def __init__(
        self,
        cloud_account_ids: Iterable[int | None],
        *,
        rates: Iterable[Rate] | None = None,
        accounts: Iterable[CloudAccount] = (),
    ) -> None:
        self._rates: dict[tuple[int | None, str], list[Rate]] = {}
        for rate in card_rates(cloud_account_ids) if rates is None else rates:
            key = (rate.rate_card.cloud_account_id, rate.resource_kind)
            self._rates.setdefault(key, []).append(rate)
        self._cache: dict[tuple, HourlyPrice] = {}
        # Size facts per (account, size) and accounts per id, not looked up per priced resource.
        self._size_facts: dict[tuple[int | None, str], tuple[int, float, int]] = {}
        self._accounts: dict[int | None, CloudAccount | None] = {a.pk: a for a in accounts}

    def _card_rates(self, cloud_account_id: int | None, kind: str) -> list[Rate]:
        """The account's own card when it prices the kind, else the default card."""
        return self._rates.get((cloud_account_id, kind)) or self._rates.get((None, kind), [])

    def _rate(self, rates: list[Rate], unit: str, size: str, on: date) -> Decimal:
        """The rate for the unit valid on `on`: an exact size beats "any size", newest first."""
        valid = [
            r for r in rates if r.unit == unit and r.size in (size, "") and r.effective_from <= on
        ]
        if not valid:
            return ZERO
        return max(valid, key=lambda r: (r.size == size, r.effective_from)).price

    def hourly(
        self,
        *,
        cloud_account_id: int | None,
        kind: str,
        size: str = "",
        quantity: Decimal = Decimal("1"),
        properties: dict | None = None,
        on: date | None = None,
    ) -> HourlyPrice:
        """The hourly price of one resource (quantity: GB for volumes, else 1)."""
        properties = properties or {}
        on = on or timezone.now().date()
        key = (cloud_account_id, kind, size, quantity, on, properties.get("disk_gb"))
        if key not in self._cache:
            self._cache[key] = self._price(cloud_account_id, kind, size, quantity, properties, on)
        return self._cache[key]

    def _price(
        self,
        cloud_account_id: int | None,
        kind: str,
        size: str,
        quantity: Decimal,
        properties: dict,
        on: date,
    ) -> HourlyPrice:
        rates = self._card_rates(cloud_account_id, kind)
        if not rates:
            return HourlyPrice(ZERO, ZERO, ZERO)

        def rate(unit: str) -> Decimal:
            return self._rate(rates, unit, size, on)

        # The provider's size facts only when a rate needs them (a volume knows its own GB).
        needs_disk = rate(Unit.GB_MONTH) and not storage_gb(
            kind=kind, quantity=quantity, properties=properties
        )
        vcpus, ram_gb, disk_gb = (
            self._facts(cloud_account_id, size)
            if rate(Unit.VCPU_HOUR) or rate(Unit.RAM_GB_HOUR) or needs_disk
            else (0, 0.0, 0)
        )
        running = (
            rate(Unit.HOUR)
            + rate(Unit.VCPU_HOUR) * vcpus
            + rate(Unit.RAM_GB_HOUR) * Decimal(str(ram_gb))
        )
        gb = storage_gb(kind=kind, quantity=quantity, properties=properties, disk_gb=disk_gb)
        idle = (rate(Unit.GB_MONTH) * gb + rate(Unit.MONTH)) / HOURS_PER_MONTH
        return HourlyPrice(
            running=(running + idle).quantize(MICRO, rounding=ROUND_HALF_UP),
            idle=idle.quantize(MICRO, rounding=ROUND_HALF_UP),
            one_time=rate(Unit.ONE_TIME),
        )

    def _facts(self, cloud_account_id: int | None, size: str) -> tuple[int, float, int]:
        """vCPUs, GB of RAM and root disk of a size, from the provider's (cached) size list."""
        key = (cloud_account_id, size)
        if key not in self._size_facts:
            account = self._account(cloud_account_id) if size else None
            info = size_info(account=account, size=size) if account else None
            self._size_facts[key] = (info.vcpus, info.ram_gb, info.disk_gb) if info else (0, 0.0, 0)
        return self._size_facts[key]

    def _account(self, pk: int | None) -> CloudAccount | None:
        if pk not in self._accounts:
            self._accounts[pk] = CloudAccount.objects.filter(pk=pk).first()
        return self._accounts[pk]


def spec_units(spec: dict) -> list[tuple[str, int, Decimal]]:
    """How a resolved spec is priced, as provisioning builds it: [(kind, how many, quantity)].

    An autoscaling group is `desired` servers; a database is a server priced at the database
    rate plus its `storage_gb` data volume priced as a volume (both are metered that way).
    """
    properties = spec.get("properties", {})
    count = max(int(spec.get("count", 1) or 1), 1)
    one = Decimal("1")
    match spec["kind"]:
        case "autoscaling_group":
            desired = int(properties.get("desired", properties.get("min", 1)) or 0)
            return [("server", count * desired, one)]
        case "database" if properties.get("storage_gb"):
            gb = Decimal(str(properties["storage_gb"]))
            return [("database", count, one), ("volume", count, gb)]
        case "volume":
            return [("volume", count, Decimal(str(properties.get("size_gb") or 0)))]
    return [(spec["kind"], count, one)]


def hourly_total(
    *, cloud_account_id: int | None, resources: list[dict], book: PriceBook | None = None
) -> Decimal:
    """What the resolved specs cost per hour while running (exactly one metered full hour).
    `book`: a PriceBook holding the account's rates, when the caller has one."""
    book = book or PriceBook([cloud_account_id])
    total = ZERO
    for spec in resources:
        properties = spec.get("properties", {})
        for kind, count, quantity in spec_units(spec):
            price = book.hourly(
                cloud_account_id=cloud_account_id,
                kind=kind,
                size=str(properties.get("size", "")) if kind != "volume" else "",
                quantity=quantity,
                properties=properties,
            )
            total += price.running * count
    return total


def monthly_quote(
    *, cloud_account_id: int | None, resources: list[dict], book: PriceBook | None = None
) -> Decimal:
    """Monthly estimate for resolved resource specs (contract 1), to the cent."""
    hourly = hourly_total(cloud_account_id=cloud_account_id, resources=resources, book=book)
    return (hourly * HOURS_PER_MONTH).quantize(CENT, rounding=ROUND_HALF_UP)
