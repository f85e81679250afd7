"""factory_boy factories for the shell's own rows: the rollups beat refreshes (`portal.rollups`).

A row is as fresh as beat leaves it (`refreshed_at` now), so the readers take it as it is; give
an older `refreshed_at` for a rollup beat left behind, which the next read recounts."""

import factory
from django.utils import timezone

from core.tests.factories import ProjectFactory
from portal.models import ResourceCount, StepCount


class ResourceCountFactory(factory.django.DjangoModelFactory):
    """`n` resources of a project in a state, on a provider, of a kind (an active sandbox server
    by default)."""

    class Meta:
        model = ResourceCount
        django_get_or_create = ("project", "state", "provider", "kind")

    project = factory.SubFactory(ProjectFactory)
    state = "active"
    provider = "sandbox"
    kind = "server"
    n = 1
    refreshed_at = factory.LazyFunction(timezone.now)


class StepCountFactory(factory.django.DjangoModelFactory):
    """`n` provider steps in a state, for a provider and resource kind, and their retries (done
    steps of sandbox servers by default)."""

    class Meta:
        model = StepCount
        django_get_or_create = ("state", "provider", "kind")

    state = "done"
    provider = "sandbox"
    kind = "server"
    n = 1
    retries = 0
    refreshed_at = factory.LazyFunction(timezone.now)
