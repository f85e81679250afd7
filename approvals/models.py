"""Admission decisions: one approval request per order, decided by a manager of its project."""

from django.conf import settings
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition


class ApprovalStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


A = ApprovalStatus


class ApprovalRequest(FSMModelMixin, models.Model):
    """A question put to the project's approvers: may this order go ahead?"""

    order = models.OneToOneField("catalog.Order", on_delete=models.CASCADE, related_name="approval")
    status = FSMField(default=A.PENDING, choices=A.choices, protected=True, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Approval of order #{self.order_id}"

    @transition(field=status, source=A.PENDING, target=A.APPROVED)
    def approve(self) -> None: ...

    @transition(field=status, source=A.PENDING, target=A.REJECTED)
    def reject(self) -> None: ...

    @transition(field=status, source=A.PENDING, target=A.CANCELLED)
    def cancel(self) -> None: ...
