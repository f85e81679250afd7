"""Reads for identity: who sees which tokens and service accounts."""

from django.contrib.auth.models import AbstractUser
from django.db.models import Q, QuerySet

from core.models import OrganizationMembership, OrganizationRole, Project
from identity.models import ApiToken, ServiceAccount


def organization_admin_of(*, user: AbstractUser, organization_id: int) -> bool:
    if user.is_superuser:
        return True
    return OrganizationMembership.objects.filter(
        user=user, organization_id=organization_id, role=OrganizationRole.ADMIN
    ).exists()


def _administered_organizations(user: AbstractUser) -> QuerySet:
    return OrganizationMembership.objects.filter(user=user, role=OrganizationRole.ADMIN).values(
        "organization"
    )


def service_accounts_administered(*, user: AbstractUser) -> QuerySet[ServiceAccount]:
    """Service accounts of the projects of the organizations the user administers."""
    accounts = ServiceAccount.objects.select_related("project__organization", "user")
    if user.is_superuser:
        return accounts
    return accounts.filter(project__organization__in=_administered_organizations(user))


def projects_for_service_accounts(*, user: AbstractUser) -> QuerySet[Project]:
    """Projects in which the user may create service accounts."""
    projects = Project.objects.select_related("organization").order_by("organization", "name")
    if user.is_superuser:
        return projects
    return projects.filter(organization__in=_administered_organizations(user))


def api_tokens_visible(*, user: AbstractUser) -> QuerySet[ApiToken]:
    """The user's own tokens and those of the service accounts they administer."""
    if not user.is_authenticated:
        return ApiToken.objects.none()
    accounts = service_accounts_administered(user=user).values("user")
    return ApiToken.objects.filter(Q(user=user) | Q(user__in=accounts)).select_related(
        "user__service_account__project"
    )


def api_token_for_key(*, digest: str) -> ApiToken | None:
    """The token with this digest, its user and service account, in one indexed query (this
    runs on every API request that carries a token)."""
    try:
        return ApiToken.objects.select_related("user", "user__service_account").get(digest=digest)
    except ApiToken.DoesNotExist:
        return None
