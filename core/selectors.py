"""Reads for tenancy. Object permissions are applied here and nowhere else."""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from core.db import fetch_all
from core.models import AuditEvent, Notification, Project


def project_list(*, user: AbstractUser, perm: str = "view_project") -> QuerySet[Project]:
    """Projects on which `user` holds `perm` (view_project, order_in_project, …)."""
    if not user.is_authenticated:
        return Project.objects.none()
    return get_objects_for_user(
        user,
        f"core.{perm}",
        klass=Project.objects.select_related("organization"),
        accept_global_perms=False,
    ).order_by("organization__name", "name")


# The reads `reads_shared` keeps for one request: key → answer.
_shared: ContextVar[dict | None] = ContextVar("canopy_shared_reads", default=None)


@contextmanager
def reads_shared() -> Iterator[None]:
    """Within the block, a read through `shared_read` (the projects a user sees, their
    currency, …) is answered once, however many panels of a page ask it: for pages that gather
    many selectors' answers, such as the dashboard. Only for one request's lifetime: a
    permission granted meanwhile shows on the next one."""
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)


def shared_read(key: tuple, read: Callable[[], Any]) -> Any:
    """`read()`, once per `key` inside `reads_shared` (every time outside it)."""
    answers = _shared.get()
    if answers is None:
        return read()
    if key not in answers:
        answers[key] = read()
    return answers[key]


def project_ids(*, user: AbstractUser, perm: str) -> QuerySet | list[int]:
    """The ids of `project_list`, for filtering orders and resources: a subquery, or inside
    `reads_shared` a list read once (a plain `IN (…)` the planner can use, where guardian's
    subquery casts every project's id to text)."""
    # A superuser's are every project: that subquery costs the database nothing, and a list of
    # every id would cost each query that names it.
    if _shared.get() is None or user.is_superuser:
        return project_list(user=user, perm=perm).values("pk")
    return shared_read(
        ("project_ids", user.pk, perm),
        lambda: list(project_list(user=user, perm=perm).values_list("pk", flat=True).order_by()),
    )


def head_and_count(rows: QuerySet, limit: int) -> tuple[list, int]:
    """The first `limit` rows and how many there are: the count from the rows themselves when
    there are fewer (a panel's usual case), one COUNT more only when there are not."""
    head = list(rows[:limit])
    return head, len(head) if len(head) < limit else rows.count()


def user_has_project_perm(*, user: AbstractUser, project: Project, perm: str) -> bool:
    """Guardian's object permission, the user's own or through a group, in one statement
    (this runs on every order, approval and resource action: plain SQL, prepared, because
    building the ORM's two queries cost several times what PostgreSQL takes to answer them)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True  # as guardian's backend and get_objects_for_user answer
    content_type = ContentType.objects.get_for_model(Project).pk
    args = [str(project.pk), perm, content_type]
    return bool(fetch_all(_object_perm_sql(), [user.pk, *args, user.pk, *args])[0][0])


@functools.cache
def _object_perm_sql() -> str:
    """What `UserObjectPermission`/`GroupObjectPermission.objects.filter(user or group__user,
    permission__codename, permission__content_type, object_pk).exists()` ask, as one EXISTS."""
    condition = "AND x.object_pk = %s AND p.codename = %s AND p.content_type_id = %s"
    permission = Permission._meta.db_table
    return (
        f"SELECT EXISTS (SELECT 1 FROM {UserObjectPermission._meta.db_table} x"
        f"  JOIN {permission} p ON p.id = x.permission_id WHERE x.user_id = %s {condition})"
        f" OR EXISTS (SELECT 1 FROM {GroupObjectPermission._meta.db_table} x"
        f"  JOIN {permission} p ON p.id = x.permission_id"
        f"  JOIN {get_user_model().groups.through._meta.db_table} ug ON ug.group_id = x.group_id"
        f"  WHERE ug.user_id = %s {condition})"
    )


def audit_events_for_order(*, order_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(order_id=order_id).select_related("actor")


def audit_event_list(*, user: AbstractUser) -> QuerySet[AuditEvent]:
    """The audit trail the user may read, newest first: the events of the orders of the projects
    they see (a superuser: every event, the ones of no order too)."""
    events = AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
    if user.is_superuser:
        return events
    return events.filter(order__project__in=project_ids(user=user, perm="view_project"))


def notification_list(*, user: AbstractUser) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user=user)


def unread_notification_count(*, user: AbstractUser) -> int:
    return notification_list(user=user).filter(read_at__isnull=True).count()
