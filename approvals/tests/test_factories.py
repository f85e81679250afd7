"""Approvals' factories save what staff would: a policy with its chain in order, and a
project's quota whose limits the quota check reads."""

import pytest

from approvals.selectors.quota import Demand, quota_problems, quotas_for_project
from approvals.tests.factories import (
    FINANCE_STAGE,
    MANAGER_STAGE,
    ApprovalPolicyFactory,
    QuotaFactory,
)

pytestmark = pytest.mark.django_db


def test_a_factory_policy_keeps_its_chain_in_order() -> None:
    policy = ApprovalPolicyFactory(stages=[MANAGER_STAGE, FINANCE_STAGE])
    assert [stage.name for stage in policy.stages.order_by("position")] == ["Manager", "Finance"]
    assert policy.organization is not None and policy.is_active


def test_a_factory_quota_bounds_its_project() -> None:
    quota = QuotaFactory(max_servers=1)
    quotas = quotas_for_project(project=quota.project)
    assert quota_problems(quotas=quotas, demand=Demand(servers=1)) == []
    assert quota_problems(quotas=quotas, demand=Demand(servers=2))
