"""factory_boy factories for lifecycle: idle policies (saved through
`lifecycle.services.reclaim.idle_policy_save`, validated as an admin's) and keep marks."""

from datetime import timedelta

import factory

from lifecycle.models import IdlePolicy, ResourceKeep
from lifecycle.services.reclaim import idle_policy_save


class IdlePolicyFactory(factory.django.DjangoModelFactory):
    """An organization's idle policy (a project's: `project=…`, `organization=None`): below 5 %
    CPU and 50 kbps over an hour, the owner told at once, stopped a day later; no retire or
    delete unless given."""

    class Meta:
        model = IdlePolicy

    organization = factory.SubFactory("core.tests.factories.OrganizationFactory")
    project = None
    name = factory.Sequence(lambda n: f"Idle policy {n}")
    cpu_below_percent = 5.0
    network_below_kbps = 50.0
    window = timedelta(hours=1)
    notify_after = timedelta(0)
    stop_after = timedelta(days=1)
    retire_after = None
    delete_after = None

    @classmethod
    def _create(cls, model_class, *, organization, project, **fields) -> IdlePolicy:
        return idle_policy_save(
            user=None, organization=organization, project=project, fields=fields
        )


class ResourceKeepFactory(factory.django.DjangoModelFactory):
    """A keep mark on `resource` by `user`."""

    class Meta:
        model = ResourceKeep

    reason = "needed for the quarter's close"
    user = factory.SubFactory("core.tests.factories.UserFactory")
