"""Idle reclaim: policies, keep marks, and each idle server's case graded notify →
stop → retire → delete, judged on metrics read in batches."""

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

import provisioning.services.day2 as provisioning_day2
from core.models import Organization, Project
from core.services import audit_record, notify
from lifecycle.models import Grade, IdlePolicy, ReclaimCase, ResourceKeep, Saving
from lifecycle.selectors.reclaim import (
    LADDER,
    idle_evidence_batch,
    idle_policy_for,
    policy_can_change,
    reclaim_candidates,
)
from lifecycle.services.leases import GONE, project_perm_check
from lifecycle.services.notices import act_url, moment_text
from lifecycle.services.savings import savings_start
from provisioning.models import Resource, ResourceState

logger = logging.getLogger(__name__)
R = ResourceState


@transaction.atomic
def idle_policy_save(
    *,
    user: AbstractUser | None,
    policy: IdlePolicy | None = None,
    organization: Organization | None = None,
    project: Project | None = None,
    fields: dict,
) -> IdlePolicy:
    """Create or change an idle policy of an organization or of one project (organization
    admins only; `user` None: seed data)."""
    if policy is None:
        if (organization is None) == (project is None):
            raise ValidationError({"scope": ["Give an organization or a project, not both."]})
        policy = IdlePolicy(organization=organization, project=project)
    if user is not None and not policy_can_change(user=user, policy=policy):
        raise PermissionDenied("Only the organization's admins manage its idle policies.")
    unknown = set(fields) - set(IdlePolicy.SETTINGS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    for name, value in fields.items():
        setattr(policy, name, value)
    if policy.window is None or policy.window <= timedelta(0):
        raise ValidationError({"window": ["A positive duration is required."]})
    scope = IdlePolicy.objects.filter(organization=policy.organization, project=policy.project)
    if scope.exclude(pk=policy.pk).exists():
        raise ValidationError({"scope": ["This organization or project already has a policy."]})
    created = policy.pk is None
    policy.save()
    audit_record(
        action="idle_policy.created" if created else "idle_policy.changed",
        target=policy,
        actor=user,
        message=str(policy),
    )
    return policy


@transaction.atomic
def idle_policy_delete(*, user: AbstractUser, policy: IdlePolicy) -> None:
    if not policy_can_change(user=user, policy=policy):
        raise PermissionDenied("Only the organization's admins manage its idle policies.")
    audit_record(action="idle_policy.deleted", target=policy, actor=user, message=str(policy))
    policy.delete()


@transaction.atomic
def resource_keep_set(*, user: AbstractUser, resource_id: int, reason: str) -> ResourceKeep:
    """The owner asks reclaim to leave the resource alone; its open case closes."""
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    project_perm_check(user, resource.project, "order_in_project")
    if not reason.strip():
        raise ValidationError({"reason": ["Say why it must be kept."]})
    keep, _ = ResourceKeep.objects.update_or_create(
        resource=resource, defaults={"reason": reason.strip(), "user": user}
    )
    audit_record(
        action="resource.keep",
        target=resource,
        actor=user,
        message=keep.reason,
        order_id=resource.order_id,
    )
    case = ReclaimCase.objects.filter(resource=resource, closed_at__isnull=True).first()
    if case is not None:
        _case_close(case, f"kept by {user}: {keep.reason}", timezone.now(), actor=user)
    return keep


@transaction.atomic
def resource_keep_remove(*, user: AbstractUser, resource_id: int) -> None:
    resource = Resource.objects.select_for_update().select_related("project").get(pk=resource_id)
    project_perm_check(user, resource.project, "order_in_project")
    deleted, _ = ResourceKeep.objects.filter(resource=resource).delete()
    if not deleted:
        raise ValidationError({"resource": ["It is not marked keep."]})
    audit_record(
        action="resource.keep_removed", target=resource, actor=user, order_id=resource.order_id
    )


def _case_close(
    case: ReclaimCase, reason: str, now: datetime, *, actor: AbstractUser | None = None
) -> None:
    case.closed_at = now
    case.close_reason = reason[:200]
    case.save(update_fields=["closed_at", "close_reason"])
    audit_record(
        action="reclaim.closed",
        target=case,
        actor=actor,
        from_state=case.grade,
        message=reason,
        order_id=case.resource.order_id,
    )


def _describe(evidence: dict, policy: IdlePolicy) -> str:
    return (
        f"average CPU {evidence['cpu_percent']} % (below {policy.cpu_below_percent:g} %), "
        f"network {evidence['network_kbps']} kbps (below {policy.network_below_kbps:g}) "
        f"over {policy.window}"
    )


# What the owner is told when a case reaches a grade.
GRADE_NOTICES = {
    Grade.NOTIFIED: "idle",
    Grade.STOPPED: "stopped because it was idle",
    Grade.RETIRED: "retired because it was idle",
    Grade.DELETED: "deleted because it was idle",
}


def _next_step(case: ReclaimCase) -> tuple[str, datetime] | None:
    """The next grade and when it is due (None: the ladder ends here, an empty wait disables
    its grade and so every later one)."""
    if case.grade not in LADDER:
        return None
    grade, wait_field = LADDER[case.grade]
    wait = getattr(case.policy, wait_field)
    return None if wait is None else (grade, case.graded_at + wait)


def _next_due(case: ReclaimCase, now: datetime) -> str | None:
    """The next grade when its wait is over (None: not yet, or the ladder ends here)."""
    step = _next_step(case)
    return step[0] if step and now >= step[1] else None


def _owner_notice(case: ReclaimCase, subject: str, body: str) -> None:
    resource = case.resource
    notify(
        user=resource.order.requester,
        subject=f"{resource.name}: {subject}",
        body=body,
        url=act_url(resource.pk),
    )


def _next_wait(case: ReclaimCase) -> str:
    step = _next_step(case)
    if step is None:
        return ""
    return f" It will be {step[0]} after {moment_text(step[1])} unless you mark it keep."


def _grade_apply(case: ReclaimCase, grade: str, now: datetime) -> bool:
    """Take the case one grade further; False when the server is not ready for it yet."""
    resource = case.resource
    reason = f"idle under policy {case.policy.name}: {grade}"
    if grade == Grade.STOPPED and resource.state == R.ACTIVE:
        provisioning_day2.resource_action_request(
            user=None, resource_id=resource.pk, action="stop", reason=reason
        )
        savings_start(resources=[resource], source=Saving.Source.RECLAIM, action="stop", now=now)
    elif grade in (Grade.STOPPED, Grade.RETIRED) and resource.state != R.STOPPED:
        return False  # stopping still (or stopped by its owner: then it is simply stopped)
    elif grade == Grade.DELETED:
        if resource.state != R.STOPPED:
            return False
        provisioning_day2.resource_action_request(
            user=None, resource_id=resource.pk, action="destroy", reason=reason
        )
        savings_start(resources=[resource], source=Saving.Source.RECLAIM, action="delete", now=now)
    previous = case.grade
    case.grade = grade
    case.graded_at = now
    case.save(update_fields=["grade", "graded_at"])
    audit_record(
        action="reclaim.graded",
        target=case,
        from_state=previous,
        to_state=grade,
        message=reason,
        order_id=resource.order_id,
    )
    if grade == Grade.DELETED:
        _case_close(case, "deleted", now)
    _owner_notice(
        case,
        GRADE_NOTICES[grade],
        f"{_describe(case.evidence, case.policy)}.{_next_wait(case)}",
    )
    return True


@transaction.atomic
def _reclaim_step(
    resource_id: int, policy_id: int | None, evidence: dict | None, now: datetime
) -> str:
    """Open, advance or close the server's case; `evidence` was read before the transaction
    (a provider call), for an active server."""
    resource = (
        Resource.objects.select_for_update(of=("self",))
        .select_related("order__requester", "project")
        .get(pk=resource_id)
    )
    case = (
        ReclaimCase.objects.select_for_update(of=("self",))
        .select_related("policy")
        .filter(resource=resource, closed_at__isnull=True)
        .first()
    )
    if case is None:
        if policy_id is None or resource.state != R.ACTIVE or not (evidence and evidence["idle"]):
            return "busy"
        if ResourceKeep.objects.filter(resource=resource).exists():
            return "kept"
        case = ReclaimCase.objects.create(
            resource=resource,
            policy_id=policy_id,
            opened_at=now,
            graded_at=now,
            evidence=evidence,
        )
        audit_record(
            action="reclaim.opened",
            target=case,
            to_state=case.grade,
            message=_describe(evidence, case.policy),
            order_id=resource.order_id,
        )
    else:
        case.resource = resource  # the locked row
        reason = _close_reason(case, resource, evidence)
        if reason:
            _case_close(case, reason, now)
            return "closed"
        if evidence is not None:  # still idle: show the latest averages
            case.evidence = evidence
            case.save(update_fields=["evidence"])
    moved = False
    while (grade := _next_due(case, now)) and _grade_apply(case, grade, now):
        moved = True
    return case.grade if moved or case.opened_at == now else "waiting"


def _close_reason(case: ReclaimCase, resource: Resource, evidence: dict | None) -> str:
    """Why an open case ends now, or "" to go on."""
    if resource.state in GONE or resource.state == R.DELETING:
        return f"the server is {resource.state}"
    policy = idle_policy_for(project=resource.project)
    if policy is None or policy.pk != case.policy_id:
        return "its policy no longer applies"
    keep = ResourceKeep.objects.filter(resource=resource).first()
    if keep is not None:
        return f"kept: {keep.reason}"
    if resource.state == R.ACTIVE and case.grade in (Grade.STOPPED, Grade.RETIRED):
        return "started again"
    if resource.state == R.ACTIVE and evidence is None:
        return "no metrics any more"
    if resource.state == R.ACTIVE and not evidence["idle"]:
        return f"active again: {_describe(evidence, case.policy)}"
    return ""


def reclaim_evaluate(*, now: datetime | None = None) -> dict[str, int]:
    """Judge every covered server by its policy's evidence at `now` and move its case along.
    A busy server without a case costs one metrics read and no transaction."""
    now = now or timezone.now()
    done: Counter[str] = Counter()
    policies = {p.pk: p for p in IdlePolicy.objects.filter(enabled=True)}
    open_cases = set(
        ReclaimCase.objects.filter(closed_at__isnull=True).values_list("resource_id", flat=True)
    )
    # Candidates are rows (see `reclaim_candidates`); each step locks and loads its resource.
    steps: list[tuple[Any, int | None]] = []
    judged: list[tuple[Any, IdlePolicy]] = []
    for resource, policy_id in reclaim_candidates(open_cases=open_cases):
        policy = policies.get(policy_id)
        if policy and resource.state == R.ACTIVE:
            # Evidence counts only over a window the server ran through (the simulated history
            # goes back before it existed); a server with no metrics is never reclaimed.
            if resource.pk not in open_cases and resource.state_changed_at > now - policy.window:
                done["too recent"] += 1
                continue
            judged.append((resource, policy))
        steps.append((resource, policy_id))
    evidence = idle_evidence_batch(judged, now)
    for resource, policy_id in steps:
        found = evidence.get(resource.pk)
        if resource.pk not in open_cases and not (found and found["idle"]):
            done["busy"] += 1
            continue
        try:
            done[_reclaim_step(resource.pk, policy_id, found, now)] += 1
        except ValidationError as error:  # a provider step refused; the next run tries again
            logger.warning("reclaim of resource %s: %s", resource.pk, " ".join(error.messages))
            done["refused"] += 1
    return dict(done)
