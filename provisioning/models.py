"""Cloud accounts, the resources Canopy manages, the provider steps that change them, and the
sandbox provider's own state (kept in the database so every worker process sees the same cloud)."""

from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from portal.models import Organization, Project


class CloudAccount(models.Model):
    """Credentials and settings for one provider account that projects provision into."""

    class Provider(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (simulated cloud)"

    name = models.CharField(max_length=80, unique=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    region = models.CharField(max_length=40, blank=True)
    # Provider knobs; for the sandbox: {"latency_ms": 0, "fail_on": ["server"]}.
    options = models.JSONField(default=dict, blank=True)
    projects = models.ManyToManyField(Project, blank=True, related_name="cloud_accounts")

    def __str__(self) -> str:
        return self.name


class ResourceState(models.TextChoices):
    PLANNED = "planned"
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    REBOOTING = "rebooting"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


R = ResourceState
TRANSITIONAL_STATES = [R.PROVISIONING, R.STOPPING, R.STARTING, R.REBOOTING, R.DELETING]


class Resource(FSMModelMixin, models.Model):
    """One cloud object ordered through Canopy (a server, …), in its project."""

    order = models.ForeignKey("catalog.Order", on_delete=models.PROTECT, related_name="resources")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="resources")
    cloud_account = models.ForeignKey(CloudAccount, on_delete=models.PROTECT)
    kind = models.CharField(max_length=32)
    name = models.CharField(max_length=120)
    properties = models.JSONField(default=dict)
    state = FSMField(default=R.PLANNED, choices=R.choices, protected=True, db_index=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    status_message = models.TextField(blank=True)
    external_id = models.CharField(max_length=128, blank=True)
    public_ips = models.JSONField(default=list, blank=True)
    private_ips = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def canopy_tag(self) -> str:
        """The name every external object carries, so a repeated step finds it again."""
        return f"canopy-{self.pk}"

    @transition(field=state, source=[R.PLANNED, R.PROVISIONING], target=R.PROVISIONING)
    def begin_provisioning(self) -> None: ...

    @transition(field=state, source=[R.PROVISIONING, R.STARTING, R.REBOOTING], target=R.ACTIVE)
    def mark_active(self) -> None: ...

    @transition(field=state, source=R.ACTIVE, target=R.STOPPING)
    def begin_stop(self) -> None: ...

    @transition(field=state, source=R.STOPPING, target=R.STOPPED)
    def mark_stopped(self) -> None: ...

    @transition(field=state, source=R.STOPPED, target=R.STARTING)
    def begin_start(self) -> None: ...

    @transition(field=state, source=R.ACTIVE, target=R.REBOOTING)
    def begin_reboot(self) -> None: ...

    @transition(
        field=state, source=[R.ACTIVE, R.STOPPED, R.ERROR, R.PROVISIONING], target=R.DELETING
    )
    def begin_delete(self) -> None: ...

    @transition(field=state, source=R.DELETING, target=R.DELETED)
    def mark_deleted(self) -> None: ...

    @transition(field=state, source="*", target=R.ERROR)
    def mark_error(self) -> None: ...


class StepState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Step(FSMModelMixin, models.Model):
    """One provider call that a worker runs for a resource: the per-step progress log."""

    class Action(models.TextChoices):
        CREATE = "create"
        START = "start"
        STOP = "stop"
        REBOOT = "reboot"
        DESTROY = "destroy"

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(max_length=16, choices=Action.choices)
    state = FSMField(default=StepState.PENDING, choices=StepState.choices, protected=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.action} {self.resource}"

    # Running again is allowed: a step whose worker died is re-delivered while still running.
    @transition(
        field=state, source=[StepState.PENDING, StepState.RUNNING], target=StepState.RUNNING
    )
    def begin(self) -> None:
        self.attempts += 1

    @transition(field=state, source=StepState.RUNNING, target=StepState.DONE)
    def finish(self) -> None: ...

    @transition(field=state, source=[StepState.PENDING, StepState.RUNNING], target=StepState.FAILED)
    def fail(self) -> None: ...


class SandboxObject(models.Model):
    """A server in the sandbox cloud. It lives in the database so every process shares one cloud."""

    account = models.ForeignKey(CloudAccount, on_delete=models.CASCADE)
    external_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=128, db_index=True)
    kind = models.CharField(max_length=32)
    state = models.CharField(max_length=16)
    size = models.CharField(max_length=32, blank=True)
    public_ips = models.JSONField(default=list)
    private_ips = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.state})"
