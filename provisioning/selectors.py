"""Reads for provisioning; visibility follows the resource's project."""

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from portal.models import Project
from portal.selectors import project_ids
from provisioning.models import CloudAccount, Resource, Step


def cloud_account_for_project(*, project: Project) -> CloudAccount | None:
    return (
        CloudAccount.objects.filter(projects=project).order_by("id").first()
        or CloudAccount.objects.filter(organization_id=project.organization_id)
        .order_by("id")
        .first()
    )


def resource_list(*, user: AbstractUser) -> QuerySet[Resource]:
    return Resource.objects.filter(
        project__in=project_ids(user=user, perm="view_project")
    ).select_related("cloud_account", "project", "order__item")


def steps_for_order(*, order_id: int) -> QuerySet[Step]:
    return Step.objects.filter(resource__order_id=order_id).select_related("resource")
