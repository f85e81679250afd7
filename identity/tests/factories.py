"""factory_boy factories for identity's models: directory role mappings and API tokens.

A token is issued through `api_token_issue` (its secret is shown once, only its digest is kept),
so the factory returns the `IssuedToken` with the key a test authenticates with."""

import factory

from core.tests.factories import ProjectFactory, UserFactory
from identity.models import DirectoryRoleMapping
from identity.services import IssuedToken, api_token_issue


class ProjectRoleMappingFactory(factory.django.DjangoModelFactory):
    """Members of `group` hold `role` (member by default) in a project."""

    class Meta:
        model = DirectoryRoleMapping

    group = factory.Sequence(lambda n: f"group-{n}")
    project = factory.SubFactory(ProjectFactory)
    role = "member"


class OrganizationRoleMappingFactory(factory.django.DjangoModelFactory):
    """Members of `group` hold an organization role (finance by default)."""

    class Meta:
        model = DirectoryRoleMapping

    group = factory.Sequence(lambda n: f"org-group-{n}")
    organization = factory.SubFactory("core.tests.factories.OrganizationFactory")
    role = "finance"


class ApiTokenFactory(factory.Factory):
    """An API token of `user` issued by themselves: the `IssuedToken` (token row and its key)."""

    class Meta:
        model = IssuedToken

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"token {n}")
    expires_in_days = None
    read_only = False

    @classmethod
    def _create(cls, model_class, *, user, **options) -> IssuedToken:
        return api_token_issue(user=user, created_by=user, **options)
