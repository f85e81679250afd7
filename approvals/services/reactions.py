"""Reactions to the order's lifecycle: the ledger, the chain and the requester follow
the order (connected in `approvals.receivers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from approvals.models import ApprovalRequest, ApprovalStatus, StageStatus
from approvals.services.chain import requester_notify
from approvals.services.quota import quota_commit_change, quota_commit_order, quota_release
from core.services import audited_transition

if TYPE_CHECKING:  # the order's model is above: approvals is handed orders, never imports them
    from catalog.models import Order


def approval_order_changed(*, order: Order, to_state: str) -> None:
    """Keep the ledger, the chain and the requester in step with the order's lifecycle."""
    if to_state == "completed" and order.is_change:
        quota_commit_change(order)
        requester_notify(order, "completed", f"Done: {order.summary}.")
    elif to_state == "completed":
        quota_commit_order(order=order)
        requester_notify(order, "completed", "Your order is provisioned and ready.")
    elif to_state in ("rejected", "cancelled", "failed"):
        quota_release(order=order)
        if to_state == "cancelled":
            _approval_cancel(order=order)
        if to_state == "failed":
            requester_notify(order, "failed", order.status_message or "Provisioning failed.")


def _approval_cancel(*, order: Order) -> None:
    approval = ApprovalRequest.objects.filter(order=order, status=ApprovalStatus.PENDING).first()
    if approval is None:
        return
    with audited_transition(
        approval, field="status", action="approval.cancelled", order_id=order.pk
    ):
        approval.cancel()
        approval.save()
    for stage in approval.stages.filter(status__in=[StageStatus.WAITING, StageStatus.PENDING]):
        stage.cancel()
        stage.save()
