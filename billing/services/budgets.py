"""Budgets: set them, and alert (once per threshold) when the spend or the forecast crosses one."""

from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing.models import Budget, BudgetAlert
from billing.selectors.budgets import BudgetStatus, budget_clash, budget_statuses
from billing.selectors.periods import month_period, period_includes_now
from core.models import OrganizationMembership, OrganizationRole, ProjectMembership, ProjectRole
from core.services import audit_record, notify

BUDGET_THRESHOLDS = (50, 80, 100)


# The forecast alerts earlier than the spend: at 80 % and when it will overrun.
FORECAST_THRESHOLDS = (80, 100)


BUDGET_FIELDS = {"project", "cost_center", "monthly_amount", "refuse_orders_over_budget"}


def budget_can_change(*, user: AbstractUser, organization_id: int) -> bool:
    """Finance and admins of the organization (and staff) set its budgets."""
    return (
        user.is_staff
        or OrganizationMembership.objects.filter(
            user=user,
            organization_id=organization_id,
            role__in=[OrganizationRole.FINANCE, OrganizationRole.ADMIN],
        ).exists()
    )


@transaction.atomic
def budget_save(
    *, user: AbstractUser, budget: Budget | None = None, organization_id: int, data: dict
) -> Budget:
    """Create or change a budget of a project or a cost center of the organization."""
    if not budget_can_change(user=user, organization_id=organization_id):
        raise PermissionDenied("Only the organization's finance people and admins set budgets.")
    unknown = set(data) - BUDGET_FIELDS
    if unknown:
        raise ValidationError({name: ["Not a budget field."] for name in unknown})
    budget = budget or Budget(organization_id=organization_id)
    before = str(budget) if budget.pk else ""
    for name, value in data.items():
        setattr(budget, name, value)
    if budget.project is not None:
        if budget.project.organization_id != organization_id:
            raise ValidationError({"project": ["Choose a project of this organization."]})
        budget.cost_center = ""
    elif not budget.cost_center:
        raise ValidationError({"project": ["Choose a project, or give a cost center."]})
    clash = budget_clash(budget=budget)
    if clash:
        raise ValidationError(clash)
    budget.full_clean()
    budget.save()
    audit_record(
        action="budget.changed" if before else "budget.created",
        target=budget,
        actor=user,
        message=f"{before} → {budget}" if before else str(budget),
    )
    return budget


@transaction.atomic
def budget_delete(*, user: AbstractUser, budget: Budget) -> None:
    """Remove a budget (finance and admins of its organization); its alerts go with it."""
    if not budget_can_change(user=user, organization_id=budget.organization_id):
        raise PermissionDenied("Only the organization's finance people and admins set budgets.")
    audit_record(action="budget.deleted", target=budget, actor=user, message=str(budget))
    budget.delete()


def _budget_recipients(budget: Budget) -> list:
    """The project's managers (for a project budget) and the organization's finance people."""
    User = get_user_model()
    managers = (
        ProjectMembership.objects.filter(project_id=budget.project_id, role=ProjectRole.MANAGER)
        if budget.project_id
        else ProjectMembership.objects.none()
    )
    finance = OrganizationMembership.objects.filter(
        organization_id=budget.organization_id, role=OrganizationRole.FINANCE
    )
    return list(
        User.objects.filter(
            Q(pk__in=managers.values("user_id")) | Q(pk__in=finance.values("user_id"))
        ).order_by("pk")
    )


def _alert_text(status: BudgetStatus, basis: str, threshold: int) -> tuple[str, str]:
    budget, currency, month = status.budget, status.currency, status.month
    if basis == BudgetAlert.Basis.FORECAST:
        subject = f"Budget of {budget.label} forecast at {threshold} % for {month:%B %Y}"
    else:
        subject = f"Budget of {budget.label} at {threshold} % for {month:%B %Y}"
    trend = (
        f", of which {status.trend} {currency} if it keeps growing as over the last two weeks"
        if status.trend
        else ""
    )
    body = (
        f"{budget.label} has spent {status.spent_with_accrued} {currency} of its "
        f"{budget.monthly_amount} {currency} budget for {month:%B %Y} "
        f"({status.accrued} {currency} of it estimated until metered); what runs now costs "
        f"{status.monthly_run_rate} {currency} a month, so the month is forecast to end at "
        f"{status.forecast} {currency} ({status.forecast_percent} % of the budget){trend}."
    )
    return subject, body


@transaction.atomic
def budget_alerts_send(*, month: date, now: datetime | None = None) -> list[BudgetAlert]:
    """Alert once per budget, month, basis and threshold crossed: the spend (metered plus
    accrued) at 50/80/100 %, the month-end forecast at 80/100 % (the BudgetAlert row is the
    'once'). In-app and by email, to the project's managers and the organization's finance."""
    sent = []
    # Alerts already sent this month, read once: the loop then only writes the new ones.
    already = set(
        BudgetAlert.objects.filter(month=month).values_list("budget_id", "basis", "threshold")
    )
    now = now or timezone.now()
    # A forecast is about a month still running; an ended month has only its spend.
    running_month = period_includes_now(month_period(month), now)
    for status in budget_statuses(month=month, now=now):
        crossed = [
            (BudgetAlert.Basis.SPENT, t) for t in BUDGET_THRESHOLDS if status.percent >= t
        ] + [
            (BudgetAlert.Basis.FORECAST, t)
            for t in FORECAST_THRESHOLDS
            if running_month and status.forecast_percent >= t
        ]
        for basis, threshold in crossed:
            if (status.budget.pk, basis, threshold) in already:
                continue
            alert, created = BudgetAlert.objects.get_or_create(
                budget=status.budget,
                month=month,
                threshold=threshold,
                basis=basis,
                defaults={"spent": status.spent_with_accrued, "forecast": status.forecast},
            )
            if not created:
                continue
            subject, body = _alert_text(status, basis, threshold)
            url = f"{reverse('billing:budget_list')}?period={month:%Y-%m}"
            for user in _budget_recipients(status.budget):
                notify(user=user, subject=subject, body=body, url=url)
            sent.append(alert)
    return sent
