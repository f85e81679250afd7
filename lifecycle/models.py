"""Leases of orders, extension requests beyond a lease's maximum, idle-reclaim policies and
their cases, "keep" marks, and the savings that policies produced."""

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import Organization, Project


class LeaseState(models.TextChoices):
    ACTIVE = "active"
    # Expired: the order's servers were stopped; deleted once the grace period ends.
    RETIRED = "retired"
    # The order's resources were deleted (by the lease, or by a person before it ran out).
    DELETED = "deleted"


L = LeaseState


class Lease(FSMModelMixin, models.Model):
    """How long an order's environment may live. The lease belongs to the order, not to each
    resource: retiring one server of a web tier alone would break the rest of it."""

    order = models.OneToOneField("catalog.Order", on_delete=models.CASCADE, related_name="lease")
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    state = FSMField(default=L.ACTIVE, choices=L.choices, protected=True, db_index=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # When a retired lease's resources are deleted (retired_at + the grace period).
    delete_at = models.DateTimeField(null=True, blank=True)
    # Days-before-expiry warnings already sent for the current expiry ([7, 1]).
    warnings_sent = models.JSONField(default=list, blank=True)
    # Ids of the servers that retiring stopped: unretire starts them again.
    stopped_servers = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["expires_at", "id"]

    def __str__(self) -> str:
        return f"lease of order #{self.order_id} ({self.state}, expires {self.expires_at:%Y-%m-%d})"

    @transition(field=state, source=L.ACTIVE, target=L.RETIRED)
    def retire(self) -> None: ...

    @transition(field=state, source=L.RETIRED, target=L.ACTIVE)
    def unretire(self) -> None: ...

    @transition(field=state, source=[L.ACTIVE, L.RETIRED], target=L.DELETED)
    def mark_deleted(self) -> None: ...


WAIT_NOT_NEGATIVE = MinValueValidator(timedelta(0), message="Must not be negative.")


class IdlePolicy(models.Model):
    """When a server counts as idle, and what happens then, step by step.

    Evidence: over the last `window`, the average CPU is below `cpu_below_percent` and the
    average network below `network_below_kbps`. Grades: notify the owner, stop the server,
    retire it (stopped, deletion announced), delete it; each after its wait counted from the
    previous grade (notify: from the case opening). An empty wait stops the ladder there.
    A project's policy replaces its organization's.
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    cpu_below_percent = models.FloatField(
        default=5.0, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    network_below_kbps = models.FloatField(default=50.0, validators=[MinValueValidator(0)])
    window = models.DurationField(
        help_text="how long the averages are taken over",
        validators=[MinValueValidator(timedelta(minutes=1), message="At least one minute.")],
    )
    notify_after = models.DurationField(null=True, blank=True, validators=[WAIT_NOT_NEGATIVE])
    stop_after = models.DurationField(null=True, blank=True, validators=[WAIT_NOT_NEGATIVE])
    retire_after = models.DurationField(null=True, blank=True, validators=[WAIT_NOT_NEGATIVE])
    delete_after = models.DurationField(null=True, blank=True, validators=[WAIT_NOT_NEGATIVE])

    # What a policy's owner sets, name first (its organization and project say where it applies).
    SETTINGS = [
        "name",
        "enabled",
        "cpu_below_percent",
        "network_below_kbps",
        "window",
        "notify_after",
        "stop_after",
        "retire_after",
        "delete_after",
    ]

    class Meta:
        verbose_name_plural = "idle policies"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(organization__isnull=True, project__isnull=False)
                | Q(organization__isnull=False, project__isnull=True),
                name="idle_policy_one_scope",
            ),
            models.UniqueConstraint(fields=["organization"], name="one_idle_policy_per_org"),
            models.UniqueConstraint(fields=["project"], name="one_idle_policy_per_project"),
        ]

    def __str__(self) -> str:
        return self.name


class Grade(models.TextChoices):
    """How far a reclaim case went; each grade follows the one before it."""

    IDLE = "idle"
    NOTIFIED = "notified"
    STOPPED = "stopped"
    RETIRED = "retired"
    DELETED = "deleted"


class ReclaimCase(models.Model):
    """One server found idle under a policy, and how far reclaiming it went. Closed when the
    server is busy again, started again, kept by its owner, or deleted."""

    resource = models.ForeignKey(
        "provisioning.Resource", on_delete=models.CASCADE, related_name="reclaim_cases"
    )
    policy = models.ForeignKey(IdlePolicy, on_delete=models.CASCADE, related_name="cases")
    grade = models.CharField(max_length=16, choices=Grade.choices, default=Grade.IDLE)
    opened_at = models.DateTimeField()
    # When the current grade was reached: the next grade's wait counts from here.
    graded_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    close_reason = models.CharField(max_length=200, blank=True)
    # The averages that opened the case: {"cpu_percent": …, "network_kbps": …, "points": …}.
    evidence = models.JSONField(default=dict)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource"],
                condition=Q(closed_at__isnull=True),
                name="one_open_reclaim_case_per_resource",
            )
        ]

    def __str__(self) -> str:
        return f"reclaim {self.resource} ({self.grade})"


class ResourceKeep(models.Model):
    """The owner's "keep": idle reclaim leaves this resource alone, for the reason given."""

    resource = models.OneToOneField(
        "provisioning.Resource", on_delete=models.CASCADE, related_name="keep"
    )
    reason = models.CharField(max_length=300)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"keep {self.resource}: {self.reason}"


class Saving(models.Model):
    """Cost per hour that stopped accruing because a lease or reclaim stopped or deleted a
    resource, from `started_at` until it runs again (`ended_at`). Rows add up: a stopped server
    saves its running price minus what a stopped server still pays (its disk); deleting it later
    saves that remainder too."""

    class Source(models.TextChoices):
        LEASE = "lease"
        RECLAIM = "reclaim"

    class Action(models.TextChoices):
        STOP = "stop"
        DELETE = "delete"

    resource = models.ForeignKey(
        "provisioning.Resource", on_delete=models.CASCADE, related_name="savings"
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    # The project's cost center when the saving started (a project may move later).
    cost_center = models.CharField(max_length=40)
    source = models.CharField(max_length=16, choices=Source.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    hourly = models.DecimalField(max_digits=14, decimal_places=6)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.source} {self.action} {self.resource}: {self.hourly}/h"
