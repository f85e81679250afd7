"""factory_boy factories for approvals: policies with their chain of stages, and quotas.

A policy is saved through `approvals.services.policies.policy_save` (validated, its stages in
list order), as staff save one; `stages=[…]` gives the chain (default: the project manager).
"""

import factory

from approvals.models import ApprovalPolicy, ApproverRole, Quota
from approvals.services.policies import policy_save

MANAGER_STAGE = {"name": "Manager", "role": ApproverRole.PROJECT_MANAGER}
FINANCE_STAGE = {"name": "Finance", "role": ApproverRole.FINANCE}


class ApprovalPolicyFactory(factory.django.DjangoModelFactory):
    """A policy of an organization (or a project: `project=…`, `organization=None`)."""

    class Meta:
        model = ApprovalPolicy

    name = factory.Sequence(lambda n: f"Policy {n}")
    organization = factory.SubFactory("core.tests.factories.OrganizationFactory")
    stages = factory.LazyFunction(lambda: [dict(MANAGER_STAGE)])

    @classmethod
    def _create(cls, model_class, *, stages: list[dict], **fields) -> ApprovalPolicy:
        return policy_save(policy=None, fields=fields, stages=stages)


class QuotaFactory(factory.django.DjangoModelFactory):
    """A project's quota (null limits: unlimited); `organization=…`, `project=None` for an
    organization's."""

    class Meta:
        model = Quota
        django_get_or_create = ("project", "organization")

    project = factory.SubFactory("core.tests.factories.ProjectFactory")
    organization = None
