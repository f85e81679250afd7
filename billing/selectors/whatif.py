"""What-if: a period's metered usage re-priced under a draft rate card, nothing written."""

from datetime import date
from decimal import ROUND_HALF_UP

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from billing.models import RateCard
from billing.pricing import CENT, ZERO, PriceBook
from billing.selectors.access import group_key, summary_sums
from core.models import Project
from core.selectors import project_ids


def draft_cards(*, user: AbstractUser) -> QuerySet[RateCard]:
    """Draft cards the user may re-price reports with: finance's organizations' and the
    installation's (no organization)."""
    if not user.is_authenticated:
        return RateCard.objects.none()
    finance_orgs = Project.objects.filter(
        pk__in=project_ids(user=user, perm="view_project_costs")
    ).values("organization_id")
    return RateCard.objects.filter(is_draft=True).filter(
        Q(organization__in=finance_orgs) | Q(organization__isnull=True, cloud_account__isnull=True)
    )


def draft_card_get(*, user: AbstractUser, card_id: int) -> RateCard:
    card = draft_cards(user=user).filter(pk=card_id).first()
    if card is None:
        raise ValidationError({"whatif": ["Choose a draft rate card you may read."]})
    return card


def whatif_costs(*, rows: QuerySet, column: str | None, card: RateCard, on: date) -> dict:
    """What each group's metered usage would have cost under a draft card (group key → cost;
    `column` None: one total under the key None): `rows` (`access.summary_filtered`) summed per
    account, kind, size and quantity in one query and priced in memory with the draft's rates,
    for every account. A kind the draft does not price keeps its metered cost."""
    sums = summary_sums(rows)
    usage = (
        rows.values(*([column] if column else []), "cloud_account_id", "kind", "size", "quantity")
        .annotate(
            running=sums["running"],
            hours=sums["quantity"],
            created=sums["created"],
            cost=sums["cost"],
        )
        .order_by()
    )
    book = PriceBook([], rates=list(card.rates.select_related("rate_card")))
    costs: dict = {}
    for row in usage:
        price = book.hourly(
            cloud_account_id=group_key("cloud_account_id", row["cloud_account_id"]),
            kind=row["kind"],
            size=row["size"],
            quantity=row["quantity"],
            on=on,
        )
        cost = (
            row["running"] * price.running
            + (row["hours"] - row["running"]) * price.idle
            + row["created"] * price.one_time
            if price.priced
            else row["cost"]
        )
        key = group_key(column, row[column]) if column else None
        costs[key] = costs.get(key, ZERO) + cost
    return {key: cost.quantize(CENT, ROUND_HALF_UP) for key, cost in costs.items()}
