"""Writes for tenancy and audit. Memberships grant the matching django-guardian permissions."""

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from smtplib import SMTPException

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.mail import send_mail
from django.db import models, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from core.models import (
    AuditEvent,
    Notification,
    Organization,
    OrganizationMembership,
    OrganizationRole,
    Project,
    ProjectMembership,
    ProjectRole,
)
from core.signals import lifecycle_changed

logger = logging.getLogger(__name__)

# What each role may do on a project; the selectors only ever ask for these permissions.
PROJECT_ROLE_PERMISSIONS: dict[str, list[str]] = {
    ProjectRole.MEMBER: ["view_project", "order_in_project"],
    ProjectRole.MANAGER: ["view_project", "order_in_project", "approve_for_project"],
}
ORGANIZATION_ROLE_PERMISSIONS: dict[str, list[str]] = {
    OrganizationRole.FINANCE: ["view_project", "view_project_costs"],
    OrganizationRole.ADMIN: ["view_project", "approve_for_project", "view_project_costs"],
}
# Every permission a role grants: the ones a membership change may take away.
_ROLE_PERMISSIONS = {
    perm
    for grants in (*PROJECT_ROLE_PERMISSIONS.values(), *ORGANIZATION_ROLE_PERMISSIONS.values())
    for perm in grants
}


# The API token (and service account) that the current request authenticated with: every audit
# event the request writes records it. Set by the API's token authentication, cleared after each
# request by `core.middleware.AuditCredentialMiddleware`.
acting_credential: ContextVar[str] = ContextVar("acting_credential", default="")


@transaction.atomic
def project_membership_add(
    *, user: AbstractUser, project: Project, role: str, from_directory: bool = False
) -> ProjectMembership:
    membership, _ = ProjectMembership.objects.update_or_create(
        user=user, project=project, defaults={"role": role, "from_directory": from_directory}
    )
    # A sync, not only grants: a manager made member loses approve_for_project.
    _project_permissions_sync(user=user, projects=[project])
    return membership


@transaction.atomic
def organization_membership_add(
    *, user: AbstractUser, organization: Organization, role: str, from_directory: bool = False
) -> OrganizationMembership:
    membership, _ = OrganizationMembership.objects.get_or_create(
        user=user, organization=organization, role=role, defaults={"from_directory": from_directory}
    )
    for project in organization.projects.all():
        for perm in ORGANIZATION_ROLE_PERMISSIONS[role]:
            assign_perm(f"core.{perm}", user, project)
    return membership


@transaction.atomic
def project_membership_remove(*, membership: ProjectMembership) -> None:
    """End a project role; permissions the person still holds another way stay."""
    membership.delete()
    _project_permissions_sync(user=membership.user, projects=[membership.project])


@transaction.atomic
def organization_membership_remove(*, membership: OrganizationMembership) -> None:
    """End an organization role on every project of the organization (other roles stay)."""
    membership.delete()
    _project_permissions_sync(
        user=membership.user, projects=list(membership.organization.projects.all())
    )


def _project_permissions_sync(*, user: AbstractUser, projects: Sequence[Project]) -> None:
    """Make the user's object permissions on `projects` exactly what their memberships grant."""
    for project in projects:
        granted: set[str] = set()
        for role in ProjectMembership.objects.filter(user=user, project=project).values_list(
            "role", flat=True
        ):
            granted.update(PROJECT_ROLE_PERMISSIONS[role])
        for role in OrganizationMembership.objects.filter(
            user=user, organization_id=project.organization_id
        ).values_list("role", flat=True):
            granted.update(ORGANIZATION_ROLE_PERMISSIONS[role])
        for perm in _ROLE_PERMISSIONS - granted:
            remove_perm(f"core.{perm}", user, project)
        for perm in granted:
            assign_perm(f"core.{perm}", user, project)


@contextmanager
def audited_transition(
    target: models.Model,
    *,
    field: str,
    action: str,
    order_id: int | None,
    actor: AbstractUser | None = None,
    message: str = "",
) -> Iterator[None]:
    """Around a lifecycle change of `target.<field>`: audit it and send `lifecycle_changed`."""
    with audited_transitions(
        [target], field=field, action=action, order_id=order_id, actor=actor, message=message
    ):
        yield


@contextmanager
def audited_transitions(
    targets: Sequence[models.Model],
    *,
    field: str,
    action: str,
    order_id: int | None,
    actor: AbstractUser | None = None,
    message: str = "",
) -> Iterator[None]:
    """`audited_transition` for rows of one order changed together: one INSERT audits them all."""
    from_states = [getattr(target, field) for target in targets]
    yield
    events = []
    for target, from_state in zip(targets, from_states, strict=True):
        to_state = getattr(target, field)
        lifecycle_changed.send(
            sender=type(target),
            instance=target,
            field=field,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
        )
        events.append(
            _audit_event(
                action=action,
                target=target,
                actor=actor,
                from_state=from_state,
                to_state=to_state,
                message=message,
                order_id=order_id,
            )
        )
    AuditEvent.objects.bulk_create(events)


def audit_record(
    *,
    action: str,
    target: models.Model,
    actor: AbstractUser | None = None,
    from_state: str = "",
    to_state: str = "",
    message: str = "",
    order_id: int | None = None,
) -> AuditEvent:
    """Write one audit event; callers run it inside the transaction that made the change."""
    event = _audit_event(
        action=action,
        target=target,
        actor=actor,
        from_state=from_state,
        to_state=to_state,
        message=message,
        order_id=order_id,
    )
    event.save()
    return event


def _audit_event(
    *,
    action: str,
    target: models.Model,
    actor: AbstractUser | None,
    from_state: str,
    to_state: str,
    message: str,
    order_id: int | None,
) -> AuditEvent:
    return AuditEvent(
        actor=actor if actor is not None and actor.is_authenticated else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        from_state=from_state,
        to_state=to_state,
        message=message,
        credential=acting_credential.get(),
        order_id=order_id,
    )


def notify(
    *, user: AbstractUser, subject: str, body: str, url: str = "", email: bool = True
) -> Notification:
    """Tell one person something: an in-app notification and, unless asked not to, an email.

    The email goes once the transaction commits (nothing is announced that then rolls back);
    a mail server failure is logged, not raised, because the notification itself is saved.
    """
    notification = Notification.objects.create(user=user, subject=subject, body=body, url=url)
    if email and user.email:
        message = body if not url else f"{body}\n\n{settings.CANOPY_BASE_URL}{url}"

        def send() -> None:
            try:
                send_mail(subject, message, None, [user.email])
            except (OSError, SMTPException):
                logger.exception("Could not email %s about %r", user.email, subject)

        transaction.on_commit(send)
    return notification


def notifications_mark_read(*, user: AbstractUser, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all of them, or those with `ids`); returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
