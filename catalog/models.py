"""The service menu (categories, items) and orders: what a person asked for."""

import hashlib
import json
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django_fsm import FSMField, FSMModelMixin, can_proceed, transition

from approvals.models import OrderKind
from core.labels import field_label
from core.models import Organization, Project


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


LEASE_DAYS_MESSAGE = "Enter a whole number of days, 1 or more (or leave it empty)."
# Lease days are whole days, at least one: 0 would retire what is ordered as it completes.
# (Empty is valid on the model: no lease, or no maximum.)
lease_days_validator = MinValueValidator(1, LEASE_DAYS_MESSAGE)


def _whole_days(value: object) -> bool:
    """A valid number of lease days; not a bool, nor a "30" from a catalog document."""
    return type(value) is int and value >= lease_days_validator.limit_value


def lease_days_conflicts(*, default: object, maximum: object) -> dict[str, list[str]]:
    """What is wrong with the two lease days together, by field. A value that is not valid on
    its own is left to `lease_days_validator`."""
    if maximum is None:
        return {}
    if default is None:
        return {"lease_default_days": ["Set a default lease: a maximum alone leases nothing."]}
    if _whole_days(default) and _whole_days(maximum) and default > maximum:
        return {
            "lease_max_days": [
                f"The maximum ({maximum} days) is shorter than the default lease ({default} days)."
            ]
        }
    return {}


def lease_days_errors(*, default: object, maximum: object) -> dict[str, list[str]]:
    """Every problem of lease days that were not entered through the model's fields (a catalog
    document): each value on its own, then the two together."""
    errors = {
        name: [LEASE_DAYS_MESSAGE]
        for name, value in (("lease_default_days", default), ("lease_max_days", maximum))
        if value is not None and not _whole_days(value)
    }
    return errors or lease_days_conflicts(default=default, maximum=maximum)


class CatalogItem(models.Model):
    """A service on the menu: a template of resources plus the JSON Schema of its parameter form.

    `resources` is a list of specs `{"key": "web", "kind": "server", "name": "{name}-web",
    "count": "{instances}", "properties": {...}}` (see `catalog.templating`): "{param}" values are
    bound to the order's parameters, and a reference property (`network`, `attach_to`, `members`,
    `target`) names another spec's key.
    """

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    description = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, help_text="JSON Schema of the order form")
    resources = models.JSONField(default=list, help_text="resource template")
    is_active = models.BooleanField(default=True)
    # The lease of what is ordered (days from completion); none when the default is empty. Beyond
    # the maximum (counted from the lease's start), an extension needs a project manager.
    lease_default_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[lease_days_validator]
    )
    lease_max_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[lease_days_validator]
    )
    # Entitlements: an item listing no organization and no project is open to every project;
    # otherwise only to the projects listed and to every project of the organizations listed.
    organizations = models.ManyToManyField(Organization, blank=True, related_name="entitled_items")
    projects = models.ManyToManyField(Project, blank=True, related_name="entitled_items")

    class Meta:
        ordering = ["category__name", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = lease_days_conflicts(default=self.lease_default_days, maximum=self.lease_max_days)
        if errors:
            raise ValidationError(errors)


class OrderStatus(models.TextChoices):
    SUBMITTED = "submitted"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROVISIONING = "provisioning"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = OrderStatus
# Pinned properties not shown to people: scripts and keys are long, and what they are is known.
PLAN_HIDDEN_PROPERTIES = {"user_data", "ssh_key"}


def plan_digest(plan: dict) -> str:
    """The sha256 of the plan's canonical JSON: the same plan always gives the same digest."""
    canonical = json.dumps(plan, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ChangeAction(models.TextChoices):
    """What a change or destroy order does to what an earlier order made."""

    RESIZE = "resize", "Resize"
    EXTEND = "extend", "Extend"
    SET_DESIRED = "set_desired", "Set the server count of"
    SET_BOUNDS = "set_bounds", "Set the bounds of"
    EXTEND_LEASE = "extend_lease", "Extend the lease of"
    DESTROY = "destroy", "Destroy"


class Order(FSMModelMixin, models.Model):
    """One request on behalf of a project: a catalog item with the parameters given (`new`),
    or a day-2 change to what an earlier order made (`change`, `destroy`).

    A change order points at the order it changes (`changes_order`) and, when it changes one
    resource, at that resource; `parameters` then hold the change's own (`{"size": "large"}`),
    `estimated_monthly_cost` what the changed thing costs afterwards and `monthly_cost_delta`
    what the change adds to the bill (negative when it saves). For a new order the delta is its
    estimate.
    """

    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="orders")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="orders")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    parameters = models.JSONField(default=dict)
    # The account it is provisioned on, chosen at submit among those offering the item.
    cloud_account = models.ForeignKey(
        "provisioning.CloudAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )
    estimated_monthly_cost = models.DecimalField(
        max_digits=12, decimal_places=2, default=Decimal("0")
    )
    # What was quoted and approved, pinned at submit: `{"cloud_account": id, "resources":
    # [resolved specs with concrete properties], "monthly_cost": "29.20"}`. Admission, the
    # approver and the deployment read this, never the live catalog item again.
    plan = models.JSONField(default=dict, blank=True)
    plan_digest = models.CharField(max_length=64, blank=True)
    kind = models.CharField(
        max_length=16, choices=OrderKind.choices, default=OrderKind.NEW, db_index=True
    )
    action = models.CharField(max_length=16, choices=ChangeAction.choices, blank=True)
    changes_order = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="change_orders"
    )
    resource = models.ForeignKey(
        "provisioning.Resource",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="change_orders",
    )
    monthly_cost_delta = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    status = FSMField(default=S.SUBMITTED, choices=S.choices, protected=True, db_index=True)
    status_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.summary}"

    @property
    def summary(self) -> str:
        """What the order does, in words: "Linux VM", "Change: resize web-1 to large"."""
        if self.kind == OrderKind.NEW:
            return self.item.name
        what = self.resource.name if self.resource_id else f"order #{self.changes_order_id}"
        if self.kind == OrderKind.DESTROY:
            return f"Destroy: {what}" + ("" if self.resource_id else f" ({self.item.name})")
        params = self.parameters
        change = {
            ChangeAction.RESIZE: lambda: f"resize {what} to {params.get('size')}",
            ChangeAction.EXTEND: lambda: f"extend {what} to {params.get('size_gb')} GB",
            ChangeAction.SET_DESIRED: lambda: f"{what} to {params.get('desired')} servers",
            ChangeAction.SET_BOUNDS: lambda: (
                f"bounds of {what} to min {params.get('min')}, max {params.get('max')}"
            ),
            ChangeAction.EXTEND_LEASE: lambda: (
                f"keep {what} ({self.item.name}) until {str(params.get('expires_at', ''))[:10]}"
            ),
        }.get(self.action, lambda: f"{self.get_action_display().lower()} {what}")
        return f"Change: {change()}"

    @property
    def is_change(self) -> bool:
        return self.kind != OrderKind.NEW

    def pin_plan(self, *, resources: list[dict]) -> None:
        """Pin the resolved resources on this order's account at its estimated price."""
        self.plan = {
            "cloud_account": self.cloud_account_id,
            "resources": resources,
            "monthly_cost": str(self.estimated_monthly_cost),
        }
        self.plan_digest = plan_digest(self.plan)

    @property
    def planned_resources(self) -> list[dict]:
        """The pinned resource specs (empty for an order that has no pinned plan)."""
        return self.plan.get("resources", [])

    @property
    def plan_rows(self) -> list[dict]:
        """The pinned resources as people read them: name, kind, how many and what they are
        (references to other resources and generated scripts left out)."""
        return [
            {
                "name": spec["name"],
                "kind": spec["kind"].replace("_", " "),
                "count": spec.get("count", 1),
                "details": ", ".join(
                    f"{name.replace('_', ' ')} {value}"
                    for name, value in spec.get("properties", {}).items()
                    if value not in (None, "", [], {})
                    and not isinstance(value, (list, dict))
                    and name not in PLAN_HIDDEN_PROPERTIES
                ),
            }
            for spec in self.planned_resources
        ]

    @property
    def labelled_parameters(self) -> list[tuple[str, object]]:
        """(title, value) of each parameter, titled as the item's order form titles it."""
        properties = self.item.parameters.get("properties", {})
        return [
            ((properties.get(name) or {}).get("title") or field_label(name), value)
            for name, value in self.parameters.items()
        ]

    @property
    def is_final(self) -> bool:
        return self.status in {S.REJECTED, S.COMPLETED, S.FAILED, S.CANCELLED}

    @property
    def can_cancel(self) -> bool:
        """The requester may withdraw the order until provisioning starts."""
        return can_proceed(self.cancel)

    @transition(field=status, source=S.SUBMITTED, target=S.PENDING_APPROVAL)
    def await_approval(self) -> None: ...

    @transition(field=status, source=S.PENDING_APPROVAL, target=S.APPROVED)
    def approve(self) -> None: ...

    # From submitted: admission refuses an order that lost the race for the last of a quota.
    @transition(field=status, source=[S.SUBMITTED, S.PENDING_APPROVAL], target=S.REJECTED)
    def reject(self) -> None: ...

    @transition(field=status, source=[S.SUBMITTED, S.PENDING_APPROVAL], target=S.CANCELLED)
    def cancel(self) -> None: ...

    @transition(field=status, source=S.APPROVED, target=S.PROVISIONING)
    def start_provisioning(self) -> None: ...

    @transition(field=status, source=S.PROVISIONING, target=S.COMPLETED)
    def complete(self) -> None: ...

    @transition(field=status, source=[S.APPROVED, S.PROVISIONING], target=S.FAILED)
    def fail(self) -> None: ...
