"""Whether admission would refuse an order: its quotas and the organization's
refusing budgets, with the policy's say on an order over a limit (the submission's lock-free
pre-check, and the figures admission re-checks under lock)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from approvals.models import LedgerStatus, Quota, QuotaEntry
from approvals.selectors.policies import policy_for_order, policy_refuses
from approvals.selectors.quota import (
    DIMENSIONS,
    Demand,
    change_demand,
    quota_problems,
    quotas_for_project,
    resource_demand,
)
from billing.models import Budget
from billing.selectors.budgets import budget_check
from core.db import fetch_all
from core.models import Project

if TYPE_CHECKING:  # orders live in catalog, above this app: only handed in
    from catalog.models import Order


def admission_over(*, order: Order, demand: Demand, quotas: list[Quota]) -> dict[str, list[str]]:
    """The quota and refusing-budget limits the order would exceed, by kind (empty: it fits)."""
    over: dict[str, list[str]] = {}
    if problems := quota_problems(quotas=quotas, demand=demand):
        over["quota"] = problems
    # What the order adds to the bill (a new order: its estimate); one that saves never
    # breaks a budget.
    if order.monthly_cost_delta > 0 and (
        refusal := budget_check(project=order.project, monthly_cost=order.monthly_cost_delta)
    ):
        over["budget"] = [refusal]
    return over


def change_refusal(*, order: Order) -> dict[str, list[str]]:
    """Why admission would refuse the unsaved change order now (empty when it would not), as
    `admission_refusal` for a new order."""
    demand, kinds = change_demand(order=order)
    over = admission_over(
        order=order, demand=demand, quotas=quotas_for_project(project=order.project)
    )
    if not over:
        return {}
    match = policy_for_order(order=order, kinds=kinds, over_quota=True)
    return over if policy_refuses(match) else {}


# One row per quota of the project with its limits and ledger sums (one row of nulls when there
# is none), and whether a budget of the organization refuses orders. Portable SQL: SQLite too.
_SCREEN_SQL = (
    "SELECT t.*, EXISTS (SELECT 1 FROM {budget} b"
    "  WHERE b.refuse_orders_over_budget AND b.organization_id = %s)"
    " FROM (SELECT 1) one LEFT JOIN ("
    "  SELECT {limits}, {sums} FROM {quota} q"
    "  JOIN {project} p ON p.id = q.project_id OR p.organization_id = q.organization_id"
    "  LEFT JOIN {entry} e ON e.project_id = p.id AND e.status <> %s"
    "  WHERE q.project_id = %s OR q.organization_id = %s GROUP BY q.id"
    " ) t ON 1 = 1"
).format(
    budget=Budget._meta.db_table,
    quota=Quota._meta.db_table,
    project=Project._meta.db_table,
    entry=QuotaEntry._meta.db_table,
    limits=", ".join(f"q.{limit}" for limit, _ in DIMENSIONS.values()),
    sums=", ".join(f"COALESCE(SUM(e.{name}), 0)" for name in DIMENSIONS),
)


def _admission_screen(*, project: Project, demand: Demand) -> bool:
    """Whether the demand surely passes the pre-check, in one statement: it fits every quota of
    the project (`quota_problems` of `quotas_for_project`, from each quota's limits and its
    reserved and committed ledger sums) and no budget of the organization refuses orders (a
    superset of those `budget_check` reads, so billing's rule decides whenever one exists).

    Plain SQL, prepared (`core.db`), on purpose: it runs on every order request, where
    building the equivalent ORM queries cost ten times what PostgreSQL takes to answer them."""
    organization = project.organization_id
    rows = fetch_all(_SCREEN_SQL, [organization, LedgerStatus.RELEASED, project.pk, organization])
    count = len(DIMENSIONS)
    wanted = [getattr(demand, name) for name in DIMENSIONS]
    over_quota = any(
        # Decimal(str()): SQLite answers floats for the decimal columns
        limit is not None and want > 0 and Decimal(str(taken)) + want > Decimal(str(limit))
        for row in rows
        for limit, taken, want in zip(row[:count], row[count : 2 * count], wanted, strict=True)
    )
    return not over_quota and not rows[0][-1]


def admission_refusal(
    *, order: Order, resources: list[dict], sizes: list | None = None
) -> dict[str, list[str]]:
    """The submission's lock-free pre-check of an unsaved order: why admission would refuse it
    now (empty when it would be admitted). It reads without locking, so two orders racing for
    the last of a quota may both pass; admission re-checks under the quota rows' lock.
    `sizes`: as for `resource_demand`."""
    demand = resource_demand(
        cloud_account=order.cloud_account,
        resources=resources,
        monthly_cost=order.estimated_monthly_cost,
        sizes=sizes,
    )
    # Most orders pass a cheap screen; the others take the full checks, whose messages name
    # the quota's owner and the budget.
    if _admission_screen(project=order.project, demand=demand):
        return {}
    over = admission_over(
        order=order, demand=demand, quotas=quotas_for_project(project=order.project)
    )
    if not over:
        return {}  # e.g. under the organization's refusing budget: no policy lookup
    match = policy_for_order(
        order=order, kinds={spec["kind"] for spec in resources}, over_quota=True
    )
    return over if policy_refuses(match) else {}
