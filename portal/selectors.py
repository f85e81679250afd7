"""Reads for tenancy. Object permissions are applied here and nowhere else."""

from django.contrib.auth.models import AbstractUser
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_objects_for_user

from portal.models import AuditEvent, Notification, Project


def project_list(*, user: AbstractUser, perm: str = "view_project") -> QuerySet[Project]:
    """Projects on which `user` holds `perm` (view_project, order_in_project, …)."""
    if not user.is_authenticated:
        return Project.objects.none()
    return get_objects_for_user(
        user,
        f"portal.{perm}",
        klass=Project.objects.select_related("organization"),
        accept_global_perms=False,
    ).order_by("organization__name", "name")


def project_ids(*, user: AbstractUser, perm: str) -> QuerySet:
    """The ids of `project_list` as a subquery, for filtering orders and resources."""
    return project_list(user=user, perm=perm).values("pk")


def user_has_project_perm(*, user: AbstractUser, project: Project, perm: str) -> bool:
    """Guardian's object permission with one indexed query in the common case, instead of
    has_perm's two (this runs on every order, approval and resource action)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True  # as guardian's backend and get_objects_for_user answer
    permission = {
        "permission__codename": perm,
        "permission__content_type": ContentType.objects.get_for_model(Project),
        "object_pk": str(project.pk),
    }
    return (
        UserObjectPermission.objects.filter(user=user, **permission).exists()
        or GroupObjectPermission.objects.filter(group__user=user, **permission).exists()
    )


def audit_events_for_order(*, order_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(order_id=order_id).select_related("actor")


def notification_list(*, user: AbstractUser) -> QuerySet[Notification]:
    """The user's own notifications, newest first."""
    if not user.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(user=user)


def unread_notification_count(*, user: AbstractUser) -> int:
    return notification_list(user=user).filter(read_at__isnull=True).count()
