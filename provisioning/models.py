"""Cloud accounts, the resources Canopy manages, the deployments (sagas) and provider steps that
change them, their lifecycle events, and the sandbox provider's own state (kept in the database
so every worker process sees the same cloud)."""

from typing import Any

from django.db import models
from django.db.models.functions import Coalesce
from django_fsm import FSMField, FSMModelMixin, transition

from core.models import Organization, Project
from provisioning.crypto import decrypt_json, encrypt_json


class CloudAccount(models.Model):
    """Credentials and settings for one provider account that projects provision into."""

    class Provider(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (simulated cloud)"
        EC2 = "ec2", "Amazon EC2 (or EC2-compatible)"
        OPENSTACK = "openstack", "OpenStack"
        GCE = "gce", "Google Compute Engine"
        AZURE = "azure", "Microsoft Azure"

    name = models.CharField(max_length=80, unique=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    region = models.CharField(max_length=40, blank=True)
    # For EC2-compatible clouds and private OpenStack endpoints.
    endpoint_url = models.URLField(blank=True)
    # Fernet token of the credentials dict; read and written through `credentials`.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    # Provider knobs; for the sandbox: {"latency_ms": 0, "fail_on": ["server"],
    # "transient_failure_rate": 0.3} (rate may also be a dict kind → rate).
    options = models.JSONField(default=dict, blank=True)
    projects = models.ManyToManyField(Project, blank=True, related_name="cloud_accounts")

    def __str__(self) -> str:
        return self.name

    @property
    def credentials(self) -> dict[str, Any]:
        return decrypt_json(self.credentials_encrypted, {})

    @credentials.setter
    def credentials(self, value: dict[str, Any]) -> None:
        self.credentials_encrypted = encrypt_json(value or {}) if value else ""


class ResourceState(models.TextChoices):
    PLANNED = "planned"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    REBOOTING = "rebooting"
    UPDATING = "updating"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"
    # The reconciler found the object gone at the provider (deleted outside Canopy).
    MISSING = "missing"


R = ResourceState
TRANSITIONAL_STATES = [
    R.PROVISIONING,
    R.STOPPING,
    R.STARTING,
    R.REBOOTING,
    R.UPDATING,
    R.DELETING,
]


class Resource(FSMModelMixin, models.Model):
    """One cloud object ordered through Canopy (a server, …), in its project."""

    order = models.ForeignKey("catalog.Order", on_delete=models.PROTECT, related_name="resources")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="resources")
    cloud_account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT)
    # The servers of an autoscaling group (and of a database) point at it.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The resolved spec's key (shared by the `count` copies of a spec).
    key = models.CharField(max_length=80, blank=True)
    kind = models.CharField(max_length=32)
    name = models.CharField(max_length=120)
    properties = models.JSONField(default=dict)
    # Generated secrets (a database's password), encrypted; shown to the owner only.
    secret_encrypted = models.TextField(blank=True, editable=False)
    state = FSMField(default=R.PLANNED, choices=R.choices, protected=True, db_index=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    status_message = models.TextField(blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    # Adopted to be watched only: metered and reported, but Canopy takes no action on it.
    observe_only = models.BooleanField(default=False)
    public_ips = models.JSONField(default=list, blank=True)
    private_ips = models.JSONField(default=list, blank=True)
    # What the provider reported last (address, fqdn, size_gb, members, snapshots, host…).
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The dashboard's and the autoscaling engine's groups: a few rows among 100,000.
            models.Index(
                fields=["project"],
                condition=models.Q(kind="autoscaling_group"),
                name="resource_group_by_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def canopy_tag(self) -> str:
        """The name every external object carries, so a repeated step finds it again."""
        return f"canopy-{self.pk}"

    @property
    def secret(self) -> dict[str, Any]:
        return decrypt_json(self.secret_encrypted, {})

    @secret.setter
    def secret(self, value: dict[str, Any]) -> None:
        self.secret_encrypted = encrypt_json(value) if value else ""

    @transition(field=state, source=[R.PLANNED, R.PROVISIONING], target=R.PROVISIONING)
    def begin_provisioning(self) -> None: ...

    # From ERROR too: a step the reconciler gave up on may still finish.
    @transition(
        field=state, source=[R.PROVISIONING, R.STARTING, R.REBOOTING, R.ERROR], target=R.ACTIVE
    )
    def mark_active(self) -> None: ...

    @transition(field=state, source=R.ACTIVE, target=R.STOPPING)
    def begin_stop(self) -> None: ...

    @transition(field=state, source=[R.STOPPING, R.ERROR], target=R.STOPPED)
    def mark_stopped(self) -> None: ...

    @transition(field=state, source=R.STOPPED, target=R.STARTING)
    def begin_start(self) -> None: ...

    @transition(field=state, source=R.ACTIVE, target=R.REBOOTING)
    def begin_reboot(self) -> None: ...

    # resize, snapshot, extend, set_members, set_desired: the object keeps running.
    @transition(field=state, source=[R.ACTIVE, R.STOPPED], target=R.UPDATING)
    def begin_update(self) -> None: ...

    @transition(field=state, source=[R.UPDATING, R.ERROR], target=R.ACTIVE)
    def finish_update(self) -> None: ...

    @transition(
        field=state,
        source=[R.ACTIVE, R.STOPPED, R.ERROR, R.PROVISIONING, R.PLANNED, R.MISSING],
        target=R.DELETING,
    )
    def begin_delete(self) -> None: ...

    @transition(field=state, source=[R.DELETING, R.ERROR], target=R.DELETED)
    def mark_deleted(self) -> None: ...

    @transition(field=state, source="*", target=R.ERROR)
    def mark_error(self) -> None: ...

    @transition(field=state, source=[R.ACTIVE, R.STOPPED, R.UPDATING, R.ERROR], target=R.MISSING)
    def mark_missing(self) -> None: ...

    # The reconciler found the server stopped (or running) at the provider behind Canopy's back.
    @transition(field=state, source=R.ACTIVE, target=R.STOPPED)
    def observe_stopped(self) -> None: ...

    @transition(field=state, source=R.STOPPED, target=R.ACTIVE)
    def observe_running(self) -> None: ...


class DeploymentState(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    COMPENSATING = "compensating"
    FAILED = "failed"


D = DeploymentState


class Deployment(FSMModelMixin, models.Model):
    """One saga over an order's resources: a dependency graph of steps run by workers.

    `create` builds the order's resources; a permanent failure turns it into compensation
    (delete what it created, in reverse). `destroy` deletes them; `scale` changes an
    autoscaling group's servers and its load balancer's members; `change` resizes or extends
    one resource. A deployment that carries out a change order points at it (`change_order`),
    and the order ends with it.
    """

    class Direction(models.TextChoices):
        CREATE = "create"
        DESTROY = "destroy"
        SCALE = "scale"
        CHANGE = "change"

    order = models.ForeignKey("catalog.Order", on_delete=models.PROTECT, related_name="deployments")
    cloud_account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    # A destroy deployment that rolls back a failed create deployment points at it.
    compensates = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="compensations"
    )
    change_order = models.ForeignKey(
        "catalog.Order",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="change_deployments",
    )
    state = FSMField(default=D.RUNNING, choices=D.choices, protected=True, db_index=True)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.direction} deployment of order {self.order_id}"

    @transition(field=state, source=D.RUNNING, target=D.SUCCEEDED)
    def succeed(self) -> None: ...

    @transition(field=state, source=D.RUNNING, target=D.COMPENSATING)
    def compensate(self) -> None: ...

    @transition(field=state, source=[D.RUNNING, D.COMPENSATING], target=D.FAILED)
    def fail(self) -> None: ...


class StepState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # A pending step of a saga that failed before it could run.
    CANCELLED = "cancelled"


class Step(FSMModelMixin, models.Model):
    """One provider call that a worker runs for a resource: the per-step progress log."""

    class Action(models.TextChoices):
        CREATE = "create"
        START = "start"
        STOP = "stop"
        REBOOT = "reboot"
        RESIZE = "resize"
        SNAPSHOT = "snapshot"
        EXTEND = "extend"
        SET_MEMBERS = "set_members"
        SET_DESIRED = "set_desired"
        DESTROY = "destroy"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="steps")
    # Saga steps belong to a deployment; a single day-2 action on a resource has none.
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.CASCADE, related_name="steps"
    )
    depends_on = models.ManyToManyField(
        "self", symmetrical=False, blank=True, related_name="dependents"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # Day-2 parameters ({"size": …}, {"size_gb": …}, {"desired": …}).
    params = models.JSONField(default=dict, blank=True)
    state = FSMField(default=StepState.PENDING, choices=StepState.choices, protected=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the step is handed to the broker, so two finishing dependencies enqueue it once.
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Last time a worker claimed it; a running step not claimed for long lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The dashboard's failures: the steps that hit an error lately, by when they last
            # ran (`step_error_list`'s `at`), without reading every step ever run.
            models.Index(
                Coalesce("finished_at", "started_at", "created_at"),
                condition=~models.Q(last_error=""),
                name="step_error_at",
            ),
            # /metrics' latency histograms: the steps finished in the last hour.
            models.Index(fields=["finished_at"], name="step_finished_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.resource}"

    # pending/running → running is the claim, one UPDATE for a whole chunk of steps
    # (provisioning.services._claim): running again is allowed, a step whose worker died is
    # re-delivered while still running. pending → cancelled, for the pending steps of a failed
    # saga, is one UPDATE too (provisioning.services._deployment_failed).

    @transition(field=state, source=StepState.RUNNING, target=StepState.DONE)
    def finish(self) -> None: ...

    @transition(field=state, source=[StepState.PENDING, StepState.RUNNING], target=StepState.FAILED)
    def fail(self) -> None: ...


class ResourceEvent(models.Model):
    """A billable lifecycle fact, written with the state change it records (billing meters it)."""

    class Kind(models.TextChoices):
        CREATED = "created"
        STARTED = "started"
        STOPPED = "stopped"
        RESIZED = "resized"
        DELETED = "deleted"

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)
    size = models.CharField(max_length=64, blank=True)
    # GB for volumes, else 1.
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    properties = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.resource} at {self.at:%Y-%m-%d %H:%M}"


class DriftPolicy(models.Model):
    """What the reconciler does when a provider reports a resource other than Canopy recorded
    it: in an organization, or (winning over it) for one cloud account."""

    class Action(models.TextChoices):
        ADOPT = "adopt", "Adopt the provider's state"
        RESTORE = "restore", "Restore what Canopy recorded"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    cloud_account = models.OneToOneField(
        CloudAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="drift_policy"
    )
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.ADOPT)

    class Meta:
        verbose_name_plural = "drift policies"
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(cloud_account__isnull=True),
                name="drift_policy_one_per_organization",
            )
        ]

    def __str__(self) -> str:
        scope = self.cloud_account or self.organization
        return f"{scope}: {self.get_action_display().lower()}"


class Drift(models.Model):
    """A difference between what Canopy recorded of a resource and what its provider reports,
    found by the reconciler; open until the two agree again, or closed when adopted."""

    class Field(models.TextChoices):
        POWER = "power", "Power state"
        SIZE = "size", "Size"
        VOLUME_SIZE = "size_gb", "Volume size (GB)"
        MEMBERS = "members", "Load balancer members"
        ADDRESS = "address", "DNS address"

    class Outcome(models.TextChoices):
        REPORTED = "reported", "Reported"
        RESTORING = "restoring", "Being restored"
        RESTORED = "restored", "Restored"
        ADOPTED = "adopted", "Adopted"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="drifts")
    field = models.CharField(max_length=16, choices=Field.choices)
    recorded = models.CharField(max_length=500, blank=True)
    reported = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detected_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "field"],
                condition=models.Q(resolved_at__isnull=True),
                name="drift_one_open_per_field",
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource}: {self.get_field_display()} {self.recorded} → {self.reported}"


class UnknownObject(models.Model):
    """An object at a provider that no resource accounts for (reconciler report): a Canopy-named
    leftover, or a server launched outside Canopy, which an organization admin may adopt."""

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE)
    kind = models.CharField(max_length=32)
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    # What the provider says of it: power state, size, tags, when it was launched.
    state = models.CharField(max_length=32, blank=True)
    size = models.CharField(max_length=64, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["account_id", "kind", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "external_id"], name="unknown_object_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.external_id})"


class SandboxObject(models.Model):
    """An object in the sandbox cloud, in the database so every process shares one cloud."""

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE)
    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=128, db_index=True)
    kind = models.CharField(max_length=32)
    state = models.CharField(max_length=16)
    size = models.CharField(max_length=32, blank=True)
    public_ips = models.JSONField(default=list)
    private_ips = models.JSONField(default=list)
    # Everything else the kind has: size_gb, server_id, members, address, fqdn, snapshots, …
    attributes = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.state})"
