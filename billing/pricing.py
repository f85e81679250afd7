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

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from billing.models import Rate, Unit
from provisioning.models import CloudAccount
from provisioning.providers.base import KINDS
from provisioning.selectors import size_info

HOURS_PER_MONTH = Decimal("730")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")  # the precision of hourly prices and metered costs
ZERO = Decimal("0")

# The kinds a rate may price: what providers create, and a database's server (priced as one).
BILLABLE_KINDS = (*KINDS, "database")

# Rates charged only while a server (or database) runs; the others are charged while it exists.
RUNNING_UNITS = {Unit.HOUR, Unit.VCPU_HOUR, Unit.RAM_GB_HOUR}


@dataclass(frozen=True)
class HourlyPrice:
    """What one resource costs per hour: while running, while stopped, and once at creation."""

    running: Decimal
    idle: Decimal
    one_time: Decimal
    # False when no card prices this kind (and size): the price is 0 only for want of a rate.
    priced: bool = True


class UnpricedError(ValidationError):
    """An order names a kind or size its cloud account's rate card has no price for."""


def billed_kind(*, kind: str, parent_kind: str | None) -> str:
    """The kind a resource is charged as: a database's server is charged at the database rate
    (its data volume stays a volume; an autoscaling group's servers stay servers)."""
    return "database" if kind == "server" and parent_kind == "database" else kind


def storage_gb(*, kind: str, quantity: Decimal, properties: dict, disk_gb: int = 0) -> Decimal:
    """The GB a `gb_month` rate applies to: a volume's size, else the root disk's."""
    if kind == "volume":
        return Decimal(quantity)
    return Decimal(str(properties.get("disk_gb") or disk_gb or 0))


def card_rates(
    cloud_account_ids: Iterable[int | None], *, organization_ids: Iterable[int] | None = None
) -> list[Rate]:
    """Every rate of the accounts' own cards, of their organizations' default cards and of the
    installation's default card (drafts excluded): what a PriceBook of those accounts prices
    with. One query (`organization_ids`: the accounts' organizations, when the caller knows
    them; else a subquery finds them)."""
    ids = {pk for pk in cloud_account_ids if pk is not None}
    organizations = (
        set(organization_ids)
        if organization_ids is not None
        else CloudAccount.objects.filter(pk__in=ids).values("organization_id")
    )
    return list(
        Rate.objects.filter(rate_card__is_draft=False)
        .filter(
            Q(rate_card__cloud_account_id__in=ids)
            | Q(rate_card__cloud_account__isnull=True, rate_card__organization__in=organizations)
            | Q(rate_card__cloud_account__isnull=True, rate_card__organization__isnull=True)
        )
        .select_related("rate_card")
    )


def _card_key(rate: Rate) -> tuple[str, int | None]:
    """Which card a rate belongs to: an account's, an organization's default, or the default."""
    card = rate.rate_card
    if card.cloud_account_id is not None:
        return ("account", card.cloud_account_id)
    if card.organization_id is not None:
        return ("organization", card.organization_id)
    return ("default", None)


class PriceBook:
    """The rates of some cloud accounts (and the default cards), loaded once and priced in
    memory: metering prices thousands of resources an hour with one query.

    `rates` (`card_rates` of the same accounts) and `accounts` may be given by a caller that
    already holds them, so the book reads nothing. A what-if report passes a draft card's
    rates as `rates`: they then price every account."""

    def __init__(
        self,
        cloud_account_ids: Iterable[int | None],
        *,
        rates: Iterable[Rate] | None = None,
        accounts: Iterable[CloudAccount] = (),
        account_organizations: dict[int, int] | None = None,
    ) -> None:
        # Size facts per (account, size) and accounts per id, not looked up per priced resource.
        self._size_facts: dict[tuple[int | None, str], tuple[int, float, int]] = {}
        self._accounts: dict[int | None, CloudAccount | None] = {a.pk: a for a in accounts}
        # Whose default card an account falls back to; read with the accounts when not given.
        self._organizations: dict[int, int | None] = {
            a.pk: a.organization_id for a in self._accounts.values() if a
        }
        self._organizations.update(account_organizations or {})
        if rates is None:
            ids = {pk for pk in cloud_account_ids if pk is not None}
            missing = ids - self._organizations.keys()
            for account in CloudAccount.objects.filter(pk__in=missing) if missing else ():
                self._accounts[account.pk] = account
                self._organizations[account.pk] = account.organization_id
            known = {org for org in self._organizations.values() if org is not None}
            rates = card_rates(ids, organization_ids=known)
        self._rates: dict[tuple[tuple[str, int | None], str], list[Rate]] = {}
        for rate in rates:
            key = (
                ("default", None) if rate.rate_card.is_draft else _card_key(rate),
                rate.resource_kind,
            )
            self._rates.setdefault(key, []).append(rate)
        self._cache: dict[tuple, HourlyPrice] = {}

    def _card_rates(self, cloud_account_id: int | None, kind: str) -> list[Rate]:
        """The account's own card when it prices the kind, else its organization's default
        card, else the installation's default card."""
        found = self._rates.get((("account", cloud_account_id), kind))
        if not found and cloud_account_id is not None:
            organization_id = self._organizations.get(cloud_account_id)
            if organization_id is None:
                account = self._account(cloud_account_id)
                organization_id = account.organization_id if account else None
                self._organizations[cloud_account_id] = organization_id
            found = self._rates.get((("organization", organization_id), kind))
        return found or self._rates.get((("default", None), kind), [])

    def _valid(self, rates: list[Rate], unit: str, size: str, on: date) -> list[Rate]:
        return [
            r for r in rates if r.unit == unit and r.size in (size, "") and r.effective_from <= on
        ]

    def _applied(self, rates: list[Rate], unit: str, size: str, on: date) -> Rate | None:
        """The rate for the unit valid on `on`: an exact size beats "any size", newest first."""
        valid = self._valid(rates, unit, size, on)
        return max(valid, key=lambda r: (r.size == size, r.effective_from)) if valid else None

    def _rate(self, rates: list[Rate], unit: str, size: str, on: date) -> Decimal:
        applied = self._applied(rates, unit, size, on)
        return applied.price if applied else ZERO

    def card_rates_for(self, *, cloud_account_id: int | None, kind: str) -> list[Rate]:
        """Every version of the rates that price the kind on the account (its card, else its
        organization's default card, else the default), newest first per size and unit."""
        return sorted(
            self._card_rates(cloud_account_id, kind),
            key=lambda r: (r.size, r.unit, -r.effective_from.toordinal()),
        )

    def applied_rates(
        self, *, cloud_account_id: int | None, kind: str, size: str = "", on: date
    ) -> list[Rate]:
        """The rates that price the kind and size on a day (one per unit): what a report shows
        as "the rate that applied"."""
        rates = self._card_rates(cloud_account_id, kind)
        found = (self._applied(rates, unit, size, on) for unit in Unit.values)
        return [rate for rate in found if rate is not None]

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
        if not any(self._valid(rates, unit, size, on) for unit in Unit.values):
            return HourlyPrice(ZERO, ZERO, ZERO, priced=False)

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

    def account(self, pk: int | None) -> CloudAccount | None:
        """The cloud account (read once per book)."""
        return self._account(pk)

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
    *,
    cloud_account_id: int | None,
    resources: list[dict],
    book: PriceBook | None = None,
    strict: bool = False,
) -> Decimal:
    """What the resolved specs cost per hour while running (exactly one metered full hour).
    `book`: a PriceBook holding the account's rates, when the caller has one. `strict`: raise
    UnpricedError naming every kind and size no card prices, instead of counting them as 0."""
    book = book or PriceBook([cloud_account_id])
    total = ZERO
    unpriced: list[str] = []
    for spec in resources:
        properties = spec.get("properties", {})
        for kind, count, quantity in spec_units(spec):
            size = str(properties.get("size", "")) if kind != "volume" else ""
            price = book.hourly(
                cloud_account_id=cloud_account_id,
                kind=kind,
                size=size,
                quantity=quantity,
                properties=properties,
            )
            if not price.priced:
                unpriced.append(
                    f"{kind.replace('_', ' ')} size {size}" if size else kind.replace("_", " ")
                )
            total += price.running * count
    if strict and unpriced:
        account = book.account(cloud_account_id) if cloud_account_id else None
        names = ", ".join(dict.fromkeys(unpriced))
        raise UnpricedError(
            {
                "parameters": [
                    f"The rate card of cloud account {account or 'default'} has no price for "
                    f"{names}: this cannot be ordered until an administrator adds one."
                ]
            }
        )
    return total


def monthly_quote(
    *,
    cloud_account_id: int | None,
    resources: list[dict],
    book: PriceBook | None = None,
    strict: bool = False,
) -> Decimal:
    """Monthly estimate for resolved resource specs (contract 1), to the cent. `strict`: refuse
    (UnpricedError) specs that no rate card prices instead of quoting them at 0."""
    hourly = hourly_total(
        cloud_account_id=cloud_account_id, resources=resources, book=book, strict=strict
    )
    return (hourly * HOURS_PER_MONTH).quantize(CENT, rounding=ROUND_HALF_UP)
