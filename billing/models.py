"""Money: rate cards, hourly usage rows, budgets and their alerts, monthly statements."""

from datetime import date
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import Organization, Project


class BillingProfile(models.Model):
    """An organization's billing settings: the one currency its reports and statements use."""

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="billing_profile"
    )
    currency = models.CharField(max_length=3, default="USD")

    def __str__(self) -> str:
        return f"{self.organization}: {self.currency}"


class RateCard(models.Model):
    """Prices for one cloud account; with no account, an organization's default card (used by
    every account of the organization that has no card of its own, or no price for a kind), and
    with neither, the installation's default. A draft card prices nothing: it is for what-if
    reports ("what would last month have cost under these prices?").

    Its rates are versioned: a price change is a new rate from a date, never an edit, so months
    already metered keep their prices."""

    name = models.CharField(max_length=80)
    cloud_account = models.ForeignKey(
        "provisioning.CloudAccount",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rate_cards",
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rate_cards",
        help_text="with no cloud account: the organization's default card",
    )
    currency = models.CharField(max_length=3, default="USD")
    is_draft = models.BooleanField(
        default=False, help_text="a draft prices nothing; what-if reports compare with it"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["cloud_account"],
                condition=Q(cloud_account__isnull=False, is_draft=False),
                name="one_live_card_per_account",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(cloud_account__isnull=True, organization__isnull=False, is_draft=False),
                name="one_default_card_per_organization",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Unit(models.TextChoices):
    """How a rate is applied; `billing.pricing` turns each into a price per hour."""

    HOUR = "hour", "per hour while running"
    VCPU_HOUR = "vcpu_hour", "per vCPU-hour while running"
    RAM_GB_HOUR = "ram_gb_hour", "per GB-RAM-hour while running"
    GB_MONTH = "gb_month", "per GB-month of storage"
    MONTH = "month", "per month while it exists"
    ONE_TIME = "one_time", "one-time fee at creation"


class Rate(models.Model):
    """One price of a resource kind (optionally for one size), valid from a date on."""

    rate_card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rates")
    resource_kind = models.CharField(max_length=32)
    size = models.CharField(max_length=64, blank=True, help_text="empty: any size")
    unit = models.CharField(max_length=16, choices=Unit.choices, default=Unit.HOUR)
    price = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))
    effective_from = models.DateField(default=date(2000, 1, 1))

    class Meta:
        ordering = ["rate_card_id", "resource_kind", "size", "unit", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["rate_card", "resource_kind", "size", "unit", "effective_from"],
                name="one_rate_per_kind_size_unit_date",
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_kind}/{self.size or '*'}: {self.price} {self.get_unit_display()}"


class Usage(models.Model):
    """One resource's charge for one clock hour, charged to whom it belonged at that time.

    cost = running_hours * rate + (hours - running_hours) * idle_rate + one_time: `hours` is the
    part of the hour the resource existed, `running_hours` the part it ran (a stopped server pays
    only `idle_rate`, its storage). Unique per (resource, hour): metering twice charges once.
    """

    # Few, small indexes on the largest table: (resource, hour) is the unique key (and serves a
    # resource's drill-down), (project, hour) and (user, hour) a member's or manager's rows,
    # hour the period scans; the foreign keys' own indexes would only duplicate them.
    resource = models.ForeignKey(
        "provisioning.Resource", on_delete=models.PROTECT, related_name="usage", db_index=False
    )
    hour = models.DateTimeField()
    kind = models.CharField(max_length=32)
    size = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(
        max_digits=12, decimal_places=3, default=Decimal("1"), help_text="GB for volumes, else 1"
    )
    unit = models.CharField(max_length=16, default="each")
    hours = models.DecimalField(max_digits=7, decimal_places=6)
    running_hours = models.DecimalField(max_digits=7, decimal_places=6)
    rate = models.DecimalField(max_digits=14, decimal_places=6, help_text="per hour running")
    idle_rate = models.DecimalField(max_digits=14, decimal_places=6, help_text="per hour stopped")
    one_time = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal("0"))
    cost = models.DecimalField(max_digits=16, decimal_places=6)
    # Whom the hour is charged to: copied from the resource, its project and its order by the
    # statement that writes the row, so the database does not check these keys again for every
    # row (those checks cost metering more than the insert itself); the ORM still applies their
    # on_delete.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        related_name="usage",
        db_index=False,
        db_constraint=False,
    )
    cost_center = models.CharField(max_length=40)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    catalog_item = models.ForeignKey(
        "catalog.CatalogItem",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    cloud_account = models.ForeignKey(
        "provisioning.CloudAccount",
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    provider = models.CharField(max_length=16)
    # No rate applied (none on the account's card nor on a default one): metered at 0, flagged
    # on reports and to the organization's admins until someone prices it. A database default
    # too, so that set-based INSERTs which do not name it stay valid.
    unpriced = models.BooleanField(default=False, db_default=False)
    # One value per metering run: which rows the run wrote, to add to the rollups.
    metered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["hour", "resource_id"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "hour"], name="one_usage_per_resource_hour")
        ]
        indexes = [
            models.Index(fields=["hour"], name="usage_hour"),
            models.Index(fields=["project", "hour"], name="usage_project_hour"),
            models.Index(fields=["user", "hour"], name="usage_user_hour"),
            models.Index(fields=["hour"], name="usage_unpriced", condition=Q(unpriced=True)),
        ]

    def __str__(self) -> str:
        return f"{self.resource_id} @ {self.hour:%Y-%m-%d %H:00}: {self.cost}"


class UsageRollup(models.Model):
    """Usage summed by everything a report groups or filters on, kept by metering in the same
    transaction as the rows it sums (reports read these, not the hours).

    The keys that may be missing on a usage row (no requester, no catalog item, no account) are
    stored as 0 here, so that the unique key holds (NULLs are all distinct to a unique index) and
    metering can add to a row with one INSERT … ON CONFLICT on every database."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+", db_index=False)
    cost_center = models.CharField(max_length=40)
    user_id = models.BigIntegerField(help_text="the requester's id; 0: none")
    catalog_item_id = models.BigIntegerField(help_text="0: none")
    cloud_account_id = models.BigIntegerField(help_text="0: none")
    provider = models.CharField(max_length=16)
    kind = models.CharField(max_length=32)
    size = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    cost = models.DecimalField(max_digits=18, decimal_places=6)
    hours = models.DecimalField(max_digits=16, decimal_places=6)
    running_hours = models.DecimalField(max_digits=16, decimal_places=6)
    # Rows with a one-time fee (what-if re-prices the fee per creation) and rows unpriced.
    created = models.PositiveIntegerField(default=0)
    unpriced = models.PositiveIntegerField(default=0)

    # The grouping key after the time (and resource) columns, in this order.
    KEY = (
        "organization_id",
        "project_id",
        "cost_center",
        "user_id",
        "catalog_item_id",
        "cloud_account_id",
        "provider",
        "kind",
        "size",
        "quantity",
    )

    class Meta:
        abstract = True


class UsageDay(UsageRollup):
    """A day's (UTC) usage by project, cost center, user, catalog item, account, provider, kind
    and size: every report grouping but the resource, any period of whole days, the charts,
    budgets and statements."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", *UsageRollup.KEY], name="one_usage_day_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.day} project {self.project_id} {self.kind}: {self.cost}"


class UsageResourceMonth(UsageRollup):
    """A month's usage of each resource (with the same keys): the chargeback by resource, one
    page at a time, and any report narrowed to one resource."""

    month = models.DateField(help_text="first day of the month")
    resource = models.ForeignKey(
        "provisioning.Resource", on_delete=models.PROTECT, related_name="+", db_index=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["month", "resource", *UsageRollup.KEY],
                name="one_usage_resource_month_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} resource {self.resource_id}: {self.cost}"


class RunningRollup(models.Model):
    """What runs now, summed by whom it is charged to: its price per hour and what it accrued in
    the month until `refreshed_at`, from the last metered hour `metered_hour` on (the accrual,
    `billing.accrual.running_totals`). Beat recounts it every 30 seconds; the dashboard reads
    these few rows instead of pricing every live resource on each request."""

    organization_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    cost_center = models.CharField(max_length=40)
    user_id = models.BigIntegerField(help_text="the requester's id; 0: none (as UsageRollup)")
    hourly = models.DecimalField(max_digits=18, decimal_places=6)
    accrued = models.DecimalField(max_digits=18, decimal_places=6)
    unpriced = models.PositiveIntegerField(default=0, help_text="live resources no card prices")
    metered_hour = models.DateTimeField(null=True, help_text="none: nothing was metered yet")
    refreshed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "project_id", "cost_center", "user_id"],
                name="one_running_rollup_per_payer",
            )
        ]

    def __str__(self) -> str:
        return f"project {self.project_id} user {self.user_id}: {self.hourly}/h"


class Budget(models.Model):
    """A monthly spending limit for a project or for a cost center of an organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    cost_center = models.CharField(max_length=40, blank=True)
    monthly_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"), message="Must not be negative.")],
    )
    # Admission refuses new orders that would take the month over this budget.
    refuse_orders_over_budget = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False) & Q(cost_center=""))
                | (Q(project__isnull=True) & ~Q(cost_center="")),
                name="budget_for_project_xor_cost_center",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(project__isnull=False),
                name="one_budget_per_project",
            ),
            models.UniqueConstraint(
                fields=["organization", "cost_center"],
                condition=~Q(cost_center=""),
                name="one_budget_per_cost_center",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project or self.cost_center}: {self.monthly_amount}/month"

    @property
    def label(self) -> str:
        return f"project {self.project}" if self.project_id else f"cost center {self.cost_center}"


class BudgetAlert(models.Model):
    """A threshold a budget's spend (50/80/100 %) or month-end forecast (80/100 %) crossed in a
    month; the row makes the alert go once."""

    class Basis(models.TextChoices):
        SPENT = "spent", "spent"
        FORECAST = "forecast", "forecast"

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField()
    basis = models.CharField(max_length=8, choices=Basis.choices, default=Basis.SPENT)
    spent = models.DecimalField(max_digits=16, decimal_places=2)
    forecast = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "month", "threshold", "basis"],
                name="one_alert_per_threshold_basis_month",
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.month:%Y-%m} {self.get_basis_display()} {self.threshold} %"


class Statement(models.Model):
    """A cost center's closed month: written once at month end, never changed afterwards."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    cost_center = models.CharField(max_length=40)
    month = models.DateField(help_text="first day of the month")
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=16, decimal_places=2)
    closed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "cost_center"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "cost_center", "month"], name="one_statement_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.cost_center} {self.month:%Y-%m}"


class StatementLine(models.Model):
    """One project's and kind's cost on a statement; `usage_month` before the statement's month
    marks an adjustment (usage metered after that month's statement was closed)."""

    statement = models.ForeignKey(Statement, on_delete=models.CASCADE, related_name="lines")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32)
    usage_month = models.DateField()
    hours = models.DecimalField(max_digits=16, decimal_places=6)
    cost = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        ordering = ["usage_month", "project__name", "kind"]

    def __str__(self) -> str:
        return f"{self.statement}: {self.project} {self.kind} {self.cost}"

    @property
    def is_adjustment(self) -> bool:
        return self.usage_month < self.statement.month
