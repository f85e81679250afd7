"""Reads for tenancy. Object permissions are applied here and nowhere else."""

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from portal.models import AuditEvent, Project


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
    return user.is_authenticated and user.has_perm(f"portal.{perm}", project)


def audit_events_for_order(*, order_id: int) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(order_id=order_id).select_related("actor")
