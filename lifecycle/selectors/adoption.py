"""Brownfield adoption: servers found at a provider that Canopy did not launch, and
the projects they may be adopted into."""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from django.db.models import QuerySet

from core.models import Project
from provisioning.models import UnknownObject
from provisioning.selectors import cloud_accounts_administered

# Tags that name a server's project (by slug or name) or its cost center.
PROJECT_TAGS = ("project", "Project", "canopy-project")


COST_CENTER_TAGS = ("cost-center", "cost_center", "CostCenter", "costcenter")


@dataclass
class Adoptable:
    server: UnknownObject
    suggested: Project | None


def adoptable_servers(*, user: AbstractUser) -> list[Adoptable]:
    """Servers launched outside Canopy in the accounts of organizations the user administers,
    each with the project its tags suggest (`project`, `cost-center`), if any."""
    servers = list(
        UnknownObject.objects.filter(
            kind="server", account__in=cloud_accounts_administered(user=user)
        )
        .exclude(name__startswith="canopy-")
        .select_related("account")
        .order_by("account__name", "name")
    )
    projects = list(
        Project.objects.filter(organization__in={s.account.organization_id for s in servers})
    )
    return [Adoptable(server, _suggested(server, projects)) for server in servers]


def adoption_projects(*, user: AbstractUser) -> QuerySet[Project]:
    """Projects the user may adopt servers into: those of the organizations they administer."""
    accounts = cloud_accounts_administered(user=user)
    return Project.objects.filter(organization__in=accounts.values("organization_id")).order_by(
        "name"
    )


def _suggested(server: UnknownObject, projects: list[Project]) -> Project | None:
    mine = [p for p in projects if p.organization_id == server.account.organization_id]
    wanted = {str(server.tags[t]).lower() for t in PROJECT_TAGS if t in server.tags}
    centers = {str(server.tags[t]).lower() for t in COST_CENTER_TAGS if t in server.tags}
    return next(
        (p for p in mine if wanted & {p.slug.lower(), p.name.lower()}),
        next((p for p in mine if p.cost_center.lower() in centers), None),
    )
