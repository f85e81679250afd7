"""Delegation: an approver hands their approvals to someone for a date range."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse

from approvals.models import Delegation
from core.services import notify


@transaction.atomic
def delegation_create(
    *, delegator: AbstractUser, delegate: AbstractUser, starts_on: date, ends_on: date
) -> Delegation:
    if delegate.pk == delegator.pk:
        raise ValidationError({"delegate": ["Choose someone other than yourself."]})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": ["The end must not be before the start."]})
    delegation = Delegation.objects.create(
        delegator=delegator, delegate=delegate, starts_on=starts_on, ends_on=ends_on
    )
    notify(
        user=delegate,
        subject=f"{delegator} delegated approvals to you",
        body=f"From {starts_on} to {ends_on} you can decide {delegator}'s approvals.",
        url=reverse("approvals:approval_list"),
    )
    return delegation


@transaction.atomic
def delegation_delete(*, user: AbstractUser, delegation_id: int) -> None:
    deleted, _ = Delegation.objects.filter(pk=delegation_id, delegator=user).delete()
    if not deleted:
        raise PermissionDenied("Only the person who delegated can withdraw a delegation.")
