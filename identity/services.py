"""Writes for identity: directory sign-ins and their roles, service accounts, API tokens."""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.models import (
    Organization,
    OrganizationMembership,
    Project,
    ProjectMembership,
    ProjectRole,
)
from core.services import (
    audit_record,
    organization_membership_add,
    organization_membership_remove,
    project_membership_add,
    project_membership_remove,
)
from identity.models import (
    ApiToken,
    DirectoryIdentity,
    DirectoryRoleMapping,
    ServiceAccount,
)
from identity.selectors import organization_admin_of

# When a person is in groups that map to both project roles, the stronger one wins.
_PROJECT_ROLE_STRENGTH = {ProjectRole.MEMBER: 1, ProjectRole.MANAGER: 2}


@transaction.atomic
def directory_sign_in(
    *, user: AbstractUser, source: str, subject: str, groups: Iterable[str]
) -> AbstractUser:
    """A person the directory vouched for (a good LDAP bind, a valid ID token): link them,
    mark them active and make their directory-given roles those of their groups now."""
    groups = sorted(set(groups))
    DirectoryIdentity.objects.update_or_create(
        user=user,
        defaults={
            "source": source,
            "subject": subject,
            "groups": groups,
            "synced_at": timezone.now(),
        },
    )
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        audit_record(action="directory_enabled", target=user, message=f"Enabled by {source}")
    directory_roles_apply(user=user, groups=groups)
    return user


@transaction.atomic
def directory_disable(*, user: AbstractUser, reason: str) -> None:
    """The directory no longer knows or allows this person: no sign-in, no tokens, no
    directory-given roles (memberships made by hand stay, but an inactive user uses none)."""
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(action="directory_disabled", target=user, message=reason)
    directory_roles_apply(user=user, groups=[])


@transaction.atomic
def directory_roles_apply(*, user: AbstractUser, groups: Iterable[str]) -> None:
    """Grant the roles that `groups` map to and remove directory-given roles they no longer
    map to. Memberships made by hand are left as they are, whatever the groups say."""
    wanted_groups = {group.casefold() for group in groups}
    mappings = [
        mapping
        for mapping in DirectoryRoleMapping.objects.select_related("project", "organization")
        if mapping.group.casefold() in wanted_groups
    ]
    project_roles: dict = {}
    organization_roles: set = set()
    for mapping in mappings:
        if mapping.project is not None:
            current = project_roles.get(mapping.project)
            if current is None or (
                _PROJECT_ROLE_STRENGTH[mapping.role] > _PROJECT_ROLE_STRENGTH[current]
            ):
                project_roles[mapping.project] = mapping.role
        else:
            organization_roles.add((mapping.organization, mapping.role))
    _project_roles_apply(user=user, wanted=project_roles)
    _organization_roles_apply(user=user, wanted=organization_roles)


def _project_roles_apply(*, user: AbstractUser, wanted: dict) -> None:
    existing = {
        m.project_id: m
        for m in ProjectMembership.objects.filter(user=user).select_related("project")
    }
    for membership in existing.values():
        if membership.from_directory and membership.project not in wanted:
            project_membership_remove(membership=membership)
            _audit_role(user, "directory_role_removed", membership.role, membership.project)
    for project, role in wanted.items():
        membership = existing.get(project.pk)
        if membership is not None and (not membership.from_directory or membership.role == role):
            continue  # made by hand, or already so
        project_membership_add(user=user, project=project, role=role, from_directory=True)
        _audit_role(user, "directory_role_granted", role, project)


def _organization_roles_apply(*, user: AbstractUser, wanted: set) -> None:
    existing = {
        (m.organization, m.role): m
        for m in OrganizationMembership.objects.filter(user=user).select_related("organization")
    }
    for key, membership in existing.items():
        if membership.from_directory and key not in wanted:
            organization_membership_remove(membership=membership)
            _audit_role(user, "directory_role_removed", membership.role, membership.organization)
    for organization, role in wanted - existing.keys():
        organization_membership_add(
            user=user, organization=organization, role=role, from_directory=True
        )
        _audit_role(user, "directory_role_granted", role, organization)


def _audit_role(user: AbstractUser, action: str, role: str, where: Project | Organization) -> None:
    audit_record(action=action, target=user, message=f"{role} of {where} (directory group)")


# --- API tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret, which exists only here: the database keeps its digest."""

    token: ApiToken
    key: str


def api_token_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_expiry(days: int | None) -> datetime:
    """Now plus `days` (default CANOPY_API_TOKEN_DAYS); at most CANOPY_API_TOKEN_MAX_DAYS."""
    days = settings.CANOPY_API_TOKEN_DAYS if days is None else days
    if not 1 <= days <= settings.CANOPY_API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {
                "expires_in_days": "A token lives from 1 to "
                f"{settings.CANOPY_API_TOKEN_MAX_DAYS} days."
            }
        )
    return timezone.now() + timedelta(days=days)


@transaction.atomic
def api_token_issue(
    *,
    user: AbstractUser,
    name: str,
    created_by: AbstractUser,
    expires_in_days: int | None = None,
    read_only: bool = False,
) -> IssuedToken:
    """A token for `user` (a person for themselves, or a service account by an org admin)."""
    expires_at = api_token_expiry(expires_in_days)
    if not user.is_active:
        raise ValidationError("This account is disabled: it gets no tokens.")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        digest=api_token_digest(key),
        prefix=key[:8],
        read_only=read_only,
        created_by=created_by,
        expires_at=expires_at,
    )
    audit_record(
        action="api_token_created",
        target=token,
        actor=created_by,
        message=f"'{name}' for {user}, expires {expires_at:%Y-%m-%d %H:%M} UTC"
        + (", read-only" if read_only else ""),
    )
    return IssuedToken(token=token, key=key)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: AbstractUser) -> ApiToken:
    """Stop a token at once (the row stays, for the audit trail). Revoking twice is harmless."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action="api_token_revoked", target=token, actor=by, message=f"'{token.name}'")
    return token


def api_token_touch(*, token: ApiToken) -> None:
    """Record a use, at most once a minute per token: a busy pipeline costs no write per call."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)


# --- Service accounts -------------------------------------------------------------------------


@transaction.atomic
def service_account_create(
    *, project, name: str, role: str = ProjectRole.MEMBER, created_by: AbstractUser
) -> ServiceAccount:
    """A pipeline identity in `project`; only the project's organization admins create one."""
    if not organization_admin_of(user=created_by, organization_id=project.organization_id):
        raise PermissionDenied("Only the organization's admins manage its service accounts.")
    slug = slugify(name)
    if not slug:
        raise ValidationError({"name": "Use letters or digits in the name."})
    if ServiceAccount.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"{project} already has a service account named {name}."})
    username = f"svc-{project.slug}-{slug}"[:150]
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise ValidationError({"name": f"The user name {username} is taken."})
    user = user_model(username=username, first_name=name)
    user.set_unusable_password()
    user.save()
    account = ServiceAccount.objects.create(
        user=user, project=project, name=name, role=role, created_by=created_by
    )
    project_membership_add(user=user, project=project, role=role)
    audit_record(
        action="service_account_created",
        target=account,
        actor=created_by,
        message=f"{name} ({role}) in {project}",
    )
    return account


@transaction.atomic
def service_account_disable(*, account: ServiceAccount, by: AbstractUser) -> ServiceAccount:
    """The pipeline stops: its user is deactivated, so every token of it answers 401."""
    if not organization_admin_of(user=by, organization_id=account.project.organization_id):
        raise PermissionDenied("Only the organization's admins manage its service accounts.")
    user = account.user
    if user.is_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
        audit_record(action="service_account_disabled", target=account, actor=by)
    return account


# --- Role mappings ----------------------------------------------------------------------------


@transaction.atomic
def directory_role_mappings_replace(*, entries: list[dict]) -> list[DirectoryRoleMapping]:
    """Make the mapping table exactly `entries` (from YAML: group, role, and `project:
    <organization>/<project>` or `organization: <organization>`, by slug). Every problem is
    listed at once and nothing is written; people's roles change at their next sign-in."""
    problems: list[str] = []
    mappings: list[DirectoryRoleMapping] = []
    for number, entry in enumerate(entries, start=1):
        where = f"entry {number}"
        if not isinstance(entry, dict) or not entry.get("group") or not entry.get("role"):
            problems.append(f"{where}: needs a group and a role")
            continue
        mapping = DirectoryRoleMapping(group=str(entry["group"]), role=str(entry["role"]))
        if "project" in entry:
            organization_slug, _, project_slug = str(entry["project"]).partition("/")
            mapping.project = Project.objects.filter(
                organization__slug=organization_slug, slug=project_slug
            ).first()
            if mapping.project is None:
                problems.append(f"{where}: no project {entry['project']} (organization/project)")
                continue
        if "organization" in entry:
            mapping.organization = Organization.objects.filter(slug=entry["organization"]).first()
            if mapping.organization is None:
                problems.append(f"{where}: no organization {entry['organization']}")
                continue
        try:
            mapping.clean()
        except ValidationError as error:
            problems.extend(f"{where}: {message}" for message in error.messages)
            continue
        mappings.append(mapping)
    if problems:
        raise ValidationError(problems)
    DirectoryRoleMapping.objects.all().delete()
    return DirectoryRoleMapping.objects.bulk_create(mappings)
