"""Closed statements finance may read."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Exists, OuterRef, QuerySet

from billing.models import Statement
from core.models import Project
from core.selectors import project_ids


def statement_list(*, user: AbstractUser) -> QuerySet[Statement]:
    """Statements of the cost centers of projects whose costs the user may read (finance)."""
    if not user.is_authenticated:
        return Statement.objects.none()
    readable = Project.objects.filter(
        pk__in=project_ids(user=user, perm="view_project_costs"),
        organization_id=OuterRef("organization_id"),
        cost_center=OuterRef("cost_center"),
    )
    return Statement.objects.filter(Exists(readable)).select_related("organization")


def statement_get(*, user: AbstractUser, statement_id: int) -> Statement | None:
    return (
        statement_list(user=user).prefetch_related("lines__project").filter(pk=statement_id).first()
    )
