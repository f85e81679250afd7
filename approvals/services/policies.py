"""Approval policies and their chains of stages, as staff configure them."""

from __future__ import annotations

from django.db import transaction

from approvals.models import ApprovalPolicy, PolicyStage


@transaction.atomic
def policy_save(
    *, policy: ApprovalPolicy | None, fields: dict, stages: list[dict] | None
) -> ApprovalPolicy:
    """Create or update a policy; `stages` (when given) replaces its chain, in list order.
    Open requests keep the copy of the chain they started with."""
    policy = policy or ApprovalPolicy()
    for name, value in fields.items():
        setattr(policy, name, value)
    policy.full_clean()
    policy.save()
    if stages is not None:
        policy.stages.all().delete()
        for position, stage in enumerate(stages, start=1):
            row = PolicyStage(policy=policy, position=position, **stage)
            row.full_clean()
            row.save()
    return policy
