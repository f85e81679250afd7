"""Who may act: people from the company directory, their roles from groups, and API tokens."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.models import Organization, OrganizationRole, Project, ProjectRole


class DirectorySource(models.TextChoices):
    LDAP = "ldap", "LDAP / Active Directory"
    OIDC = "oidc", "OpenID Connect"


class DirectoryIdentity(models.Model):
    """Links a Canopy user to a person in the company directory: an LDAP user name or an OIDC
    subject. Such a user has no local password; the directory decides whether they may sign in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="directory_identity"
    )
    source = models.CharField(max_length=8, choices=DirectorySource.choices)
    subject = models.CharField(max_length=255)
    groups = models.JSONField(default=list, blank=True)  # as seen at the last sign-in or sync
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "directory identities"
        constraints = [
            models.UniqueConstraint(fields=["source", "subject"], name="one_user_per_subject")
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_source_display()}: {self.subject})"


ROLE_CHOICES = [*ProjectRole.choices, *OrganizationRole.choices]


class DirectoryRoleMapping(models.Model):
    """Members of a directory group hold a role: a project role (member, manager) or an
    organization role (finance, admin). Applied at every directory sign-in and sync."""

    group = models.CharField(
        max_length=255,
        help_text="LDAP group DN or name (case-insensitive), or a value of the OIDC groups claim.",
    )
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role = models.CharField(max_length=16, choices=ROLE_CHOICES)

    class Meta:
        ordering = ["group", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(project__isnull=True) ^ models.Q(organization__isnull=True),
                name="role_mapping_project_xor_organization",
            ),
            models.UniqueConstraint(
                fields=["group", "project", "organization", "role"], name="one_role_mapping"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.get_role_display()} of {self.project or self.organization}"

    def clean(self) -> None:
        if (self.project_id is None) == (self.organization_id is None):
            raise ValidationError("Choose either a project or an organization.")
        allowed = ProjectRole if self.project_id else OrganizationRole
        if self.role not in allowed.values:
            where = "A project" if self.project_id else "An organization"
            names = ", ".join(str(label) for label in allowed.labels)
            raise ValidationError({"role": f"{where} role is one of: {names}."})


class ServiceAccount(models.Model):
    """A pipeline's identity in one project. It has its own user (no password, never signs in
    to the portal) and acts only through API tokens that the organization's admins issue."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="service_accounts")
    name = models.CharField(max_length=60)
    role = models.CharField(max_length=16, choices=ProjectRole.choices, default=ProjectRole.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="service_account_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.project})"


class ApiToken(models.Model):
    """A secret with which a program acts as its user (a person or a service account) through
    the API, until it expires or is revoked. Only its SHA-256 digest is stored: the secret is
    shown once, when the token is created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)  # the secret's start, so owners can tell tokens apart
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "Revoked"
        if self.expires_at <= timezone.now():
            return "Expired"
        return "Active"
