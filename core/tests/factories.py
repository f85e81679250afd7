"""factory_boy factories for the ground's models: people, organizations, projects and their roles.

Roles go through the services (`project_membership_add`, …) so the object permissions are the
ones the product grants, never assigned by hand in a test.
"""

import factory
from django.contrib.auth.models import User

from core import services
from core.models import Organization, OrganizationRole, Project, ProjectRole


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    """A project; `members=[…]`, `managers=[…]` give people their roles through the services."""

    class Meta:
        model = Project
        skip_postgeneration_save = True

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    cost_center = factory.Sequence(lambda n: f"CC-{n:04d}")

    @factory.post_generation
    def members(self, create: bool, users: list[User] | None, **kwargs) -> None:
        for user in users or []:
            services.project_membership_add(user=user, project=self, role=ProjectRole.MEMBER)

    @factory.post_generation
    def managers(self, create: bool, users: list[User] | None, **kwargs) -> None:
        for user in users or []:
            services.project_membership_add(user=user, project=self, role=ProjectRole.MANAGER)


def finance_of(organization: Organization, user: User | None = None) -> User:
    """A person with the organization's finance role (reads every project's costs)."""
    user = user or UserFactory()
    services.organization_membership_add(
        user=user, organization=organization, role=OrganizationRole.FINANCE
    )
    return user


def admin_of(organization: Organization, user: User | None = None) -> User:
    """A person with the organization's admin role."""
    user = user or UserFactory()
    services.organization_membership_add(
        user=user, organization=organization, role=OrganizationRole.ADMIN
    )
    return user
