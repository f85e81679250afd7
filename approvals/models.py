"""Admission: approval policies (data), the chain of stages each order runs through, decisions,
delegations, and the quota ledger that keeps projects from being oversubscribed."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

# Amounts of money in policies and quotas (a negative threshold would match nothing or all).
NOT_NEGATIVE = MinValueValidator(Decimal("0"), message="Must not be negative.")


class OrderKind(models.TextChoices):
    """What an order does (`catalog.models.Order.kind`); policies match on it, so the names live
    here, below the orders that use them."""

    NEW = "new", "New"
    CHANGE = "change", "Change"
    DESTROY = "destroy", "Destroy"


class ApproverRole(models.TextChoices):
    # "Project manager" means whoever may approve for the project: its managers and the
    # organization's admins (the `approve_for_project` permission), as before policies existed.
    PROJECT_MANAGER = "project_manager", "Project manager"
    FINANCE = "finance", "Organization finance"
    ORG_ADMIN = "org_admin", "Organization admin"
    GROUP = "group", "Group"


class StageMode(models.TextChoices):
    ANY = "any", "Any one approver"
    ALL = "all", "All approvers"


class TimeoutAction(models.TextChoices):
    ESCALATE = "escalate", "Escalate to the next role"
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class OverQuotaAction(models.TextChoices):
    REFUSE = "refuse", "Refuse the order"
    EXTRA_STAGE = "extra_stage", "Add an approval stage"


class ApprovalPolicy(models.Model):
    """Which orders need whose approval. Empty match fields match everything; among the matching
    active policies the most specific one wins (see
    `approvals.selectors.policies.policy_for_order`)."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    # --- what it matches
    organization = models.ForeignKey(
        "core.Organization", null=True, blank=True, on_delete=models.CASCADE
    )
    project = models.ForeignKey("core.Project", null=True, blank=True, on_delete=models.CASCADE)
    catalog_item = models.ForeignKey(
        "catalog.CatalogItem", null=True, blank=True, on_delete=models.CASCADE
    )
    category = models.ForeignKey(
        "catalog.Category", null=True, blank=True, on_delete=models.CASCADE
    )
    resource_kinds = models.JSONField(
        default=list, blank=True, help_text="Matches orders containing any of these kinds."
    )
    order_kinds = models.JSONField(
        default=list,
        blank=True,
        help_text='Matches orders of these kinds ("new", "change", "destroy"); empty: every kind.',
    )
    # The monthly cost is what the ordered (or changed) thing costs a month afterwards: a
    # resize to large is judged at the large price, as ordering it large would be.
    min_monthly_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[NOT_NEGATIVE]
    )
    max_monthly_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[NOT_NEGATIVE]
    )
    # The delta is what the order adds to the monthly bill (a new order: its estimate).
    min_cost_delta = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Matches orders adding at least this much a month.",
    )
    max_cost_delta = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Matches orders adding at most this much a month (negative: saving).",
    )
    only_over_quota = models.BooleanField(
        default=False, help_text="Matches only orders over a quota or a refusing budget."
    )
    # --- what it does
    auto_approve_below = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[NOT_NEGATIVE],
        help_text="Approve at once when the order adds less than this a month (a new order: "
        "its estimate) and the quota fits.",
    )
    distinct_approvers = models.BooleanField(
        default=False, help_text="Each stage must be decided by a different person."
    )
    reject_needs_reason = models.BooleanField(
        default=False, help_text="A rejection must say why (a comment), for the requester."
    )
    over_quota_action = models.CharField(
        max_length=16, choices=OverQuotaAction.choices, default=OverQuotaAction.REFUSE
    )
    over_quota_role = models.CharField(
        max_length=16,
        choices=ApproverRole.choices,
        default=ApproverRole.ORG_ADMIN,
        help_text="Who approves the extra stage of an over-quota order.",
    )

    class Meta:
        verbose_name_plural = "approval policies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_monthly_cost__isnull=True)
                | Q(max_monthly_cost__isnull=True)
                | Q(min_monthly_cost__lte=models.F("max_monthly_cost")),
                name="policy_cost_range_ordered",
            ),
            models.CheckConstraint(
                condition=Q(min_cost_delta__isnull=True)
                | Q(max_cost_delta__isnull=True)
                | Q(min_cost_delta__lte=models.F("max_cost_delta")),
                name="policy_delta_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        kinds = OrderKind.values
        if not isinstance(self.order_kinds, list) or not set(self.order_kinds) <= set(kinds):
            raise ValidationError({"order_kinds": [f"A list of: {', '.join(kinds)}."]})


class PolicyStage(models.Model):
    """One step of a policy's chain: who approves, how many of them, and what happens on timeout."""

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    role = models.CharField(max_length=16, choices=ApproverRole.choices)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT)
    mode = models.CharField(max_length=8, choices=StageMode.choices, default=StageMode.ANY)
    skip_at_or_below = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[NOT_NEGATIVE],
        help_text="Skip this stage when the monthly estimate is at or below this amount.",
    )
    sla_hours = models.PositiveIntegerField(null=True, blank=True)
    on_timeout = models.CharField(
        max_length=16, choices=TimeoutAction.choices, default=TimeoutAction.ESCALATE
    )

    class Meta:
        ordering = ["policy", "position"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "position"], name="one_stage_per_position"),
            models.CheckConstraint(
                condition=~Q(role="group") | Q(group__isnull=False), name="group_stage_has_group"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.position}. {self.name}"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


A = ApprovalStatus


class ApprovalRequest(FSMModelMixin, models.Model):
    """The question put to an order's approvers: may this order go ahead? It runs the stages of
    the policy that matched the order (copied, so editing a policy never changes open requests)."""

    order = models.OneToOneField("catalog.Order", on_delete=models.CASCADE, related_name="approval")
    status = FSMField(default=A.PENDING, choices=A.choices, protected=True, db_index=True)
    policy = models.ForeignKey(ApprovalPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    policy_name = models.CharField(max_length=120, blank=True, default="")
    reason = models.TextField(blank=True, help_text="Why this policy applied.")
    current_stage = models.ForeignKey(
        "ApprovalStage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    distinct_approvers = models.BooleanField(default=False)
    reject_needs_reason = models.BooleanField(default=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Approval of order #{self.order_id}"

    @transition(field=status, source=A.PENDING, target=A.APPROVED)
    def approve(self) -> None: ...

    @transition(field=status, source=A.PENDING, target=A.REJECTED)
    def reject(self) -> None: ...

    @transition(field=status, source=A.PENDING, target=A.CANCELLED)
    def cancel(self) -> None: ...


class StageStatus(models.TextChoices):
    WAITING = "waiting"  # an earlier stage is still open
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class ApprovalStage(FSMModelMixin, models.Model):
    """One stage of one order's chain; `approvers` is who could decide it when it opened."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=80)
    role = models.CharField(max_length=16, choices=ApproverRole.choices)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL)
    mode = models.CharField(max_length=8, choices=StageMode.choices, default=StageMode.ANY)
    sla_hours = models.PositiveIntegerField(null=True, blank=True)
    on_timeout = models.CharField(
        max_length=16, choices=TimeoutAction.choices, default=TimeoutAction.ESCALATE
    )
    status = FSMField(
        default=StageStatus.WAITING, choices=StageStatus.choices, protected=True, db_index=True
    )
    approvers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    opened_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    escalations = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["request", "position"]
        constraints = [
            models.UniqueConstraint(fields=["request", "position"], name="one_request_stage")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    @transition(field=status, source=StageStatus.WAITING, target=StageStatus.PENDING)
    def open(self) -> None: ...

    @transition(field=status, source=StageStatus.WAITING, target=StageStatus.SKIPPED)
    def skip(self) -> None: ...

    @transition(field=status, source=StageStatus.PENDING, target=StageStatus.APPROVED)
    def approve(self) -> None: ...

    @transition(field=status, source=StageStatus.PENDING, target=StageStatus.REJECTED)
    def reject(self) -> None: ...

    @transition(
        field=status,
        source=[StageStatus.WAITING, StageStatus.PENDING],
        target=StageStatus.CANCELLED,
    )
    def cancel(self) -> None: ...


class ApprovalDecision(models.Model):
    """One person's (or the policy's) word on a stage. `on_behalf_of` names the approver a
    delegate stood in for; no user means the policy decided (auto-approval or SLA timeout)."""

    stage = models.ForeignKey(ApprovalStage, on_delete=models.CASCADE, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approve = models.BooleanField()
    comment = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        who = self.user or "policy"
        return f"{who} {'approved' if self.approve else 'rejected'} {self.stage}"


class Delegation(models.Model):
    """An approver's stand-in for a date range (inclusive), e.g. during a holiday."""

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_received"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__lte=models.F("ends_on")), name="delegation_range_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(delegator=models.F("delegate")), name="delegation_to_someone_else"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.delegator} → {self.delegate} ({self.starts_on} to {self.ends_on})"


class Quota(models.Model):
    """Limits for one project, or for all projects of an organization together; null = unlimited.

    The row is also the lock that serializes admissions: reserving takes it `FOR UPDATE`.
    """

    project = models.OneToOneField(
        "core.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="quota"
    )
    organization = models.OneToOneField(
        "core.Organization",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota",
    )
    max_servers = models.PositiveIntegerField(null=True, blank=True)
    max_vcpus = models.PositiveIntegerField(null=True, blank=True)
    max_ram_gb = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, validators=[NOT_NEGATIVE]
    )
    max_storage_gb = models.PositiveIntegerField(null=True, blank=True)
    max_monthly_cost = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[NOT_NEGATIVE]
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(project__isnull=True) ^ Q(organization__isnull=True),
                name="quota_for_project_xor_organization",
            )
        ]

    def __str__(self) -> str:
        return f"Quota of {self.project or self.organization}"


class LedgerStatus(models.TextChoices):
    RESERVED = "reserved"  # an admitted order that is not provisioned yet
    COMMITTED = "committed"  # a provisioned resource (or a day-2 change to one)
    RELEASED = "released"  # no longer counts


class QuotaEntry(models.Model):
    """One line of the quota ledger. Reserved and committed lines count against the quota.

    An order reserves one line on submit; when it completes that line is released and one
    committed line per resource replaces it, so deleting a resource releases exactly its share.
    """

    project = models.ForeignKey(
        "core.Project", on_delete=models.CASCADE, related_name="quota_entries"
    )
    order = models.ForeignKey(
        "catalog.Order", on_delete=models.CASCADE, related_name="quota_entries"
    )
    resource = models.ForeignKey(
        "provisioning.Resource",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="quota_entries",
    )
    status = models.CharField(max_length=16, choices=LedgerStatus.choices, db_index=True)
    servers = models.IntegerField(default=0)
    vcpus = models.IntegerField(default=0)
    ram_gb = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("0"))
    storage_gb = models.IntegerField(default=0)
    monthly_cost = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    note = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "quota entries"

    def __str__(self) -> str:
        return f"{self.status} for order #{self.order_id}"
