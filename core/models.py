"""The ground's rows: tenancy (organizations, projects, memberships), the audit trail,
notifications and the outbox."""

from django.conf import settings
from django.db import models


class Organization(models.Model):
    """A company or business unit that owns projects, cloud accounts and budgets."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """A team's workspace: orders and resources belong to a project, costs go to its cost center."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120)
    cost_center = models.CharField(max_length=40)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="project_slug_per_org")
        ]
        permissions = [
            ("order_in_project", "Can order catalog items for the project"),
            ("approve_for_project", "Can approve orders of the project"),
            ("view_project_costs", "Can read the project's costs"),
        ]

    def __str__(self) -> str:
        return self.name


class ProjectRole(models.TextChoices):
    MEMBER = "member", "Member"
    MANAGER = "manager", "Manager"


class OrganizationRole(models.TextChoices):
    FINANCE = "finance", "Finance"
    ADMIN = "admin", "Organization admin"


class ProjectMembership(models.Model):
    """A person's role in one project. Object permissions are derived from it by services."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ProjectRole.choices)
    # Granted by a directory group at sign-in (and removed when the person leaves the group);
    # memberships made by hand are never touched by the directory.
    from_directory = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="one_role_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"


class OrganizationMembership(models.Model):
    """An organization-wide role (finance, admin): applies to every project of the organization."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=OrganizationRole.choices)
    from_directory = models.BooleanField(default=False)  # as ProjectMembership.from_directory

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization", "role"], name="one_org_role_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.organization}"


class AuditEvent(models.Model):
    """One thing that happened: who did what to which object, and the state change it caused.

    `order` groups every event of one order (its approvals, steps and resources) so that the order
    page reads its whole trail with one query.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True)
    # The API token (and service account) the request that wrote the event authenticated with;
    # empty for the browser and for workers.
    credential = models.CharField(max_length=200, blank=True)
    order = models.ForeignKey(
        "catalog.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor or 'system'} {self.action}"


class Notification(models.Model):
    """A message for one person, shown in the portal (with an unread count) and usually emailed."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"{self.user}: {self.subject}"


class OutboxMessage(models.Model):
    """A Celery task that a committed transaction decided to run, written in that transaction.

    The message to a worker is only a wake-up call; this row is the promise that it is sent. It is
    deleted once the broker took the message: a row still here was not delivered (the broker was
    down at commit time), and the workers' relay publishes it when the broker answers again
    (`core.outbox`)."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    # Seconds after `created_at` before the task may run (a retry's backoff).
    countdown = models.FloatField(default=0)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"
