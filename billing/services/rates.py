"""Rates: what a new rate must satisfy (a kind Canopy bills, a size the card's accounts offer, a
date from this month on)."""

from datetime import date

from django.utils import timezone

from billing.models import RateCard
from billing.pricing import BILLABLE_KINDS
from billing.selectors.periods import month_start
from provisioning.models import CloudAccount
from provisioning.selectors import cloud_account_options


def _offered_sizes(card: RateCard) -> set[str] | None:
    """The sizes the card's accounts offer (an organization's card: all its accounts'; the
    installation's default: every account's); None when no account has listed its sizes yet."""
    accounts = CloudAccount.objects.all()
    if card.cloud_account_id:
        accounts = accounts.filter(pk=card.cloud_account_id)
    elif card.organization_id:
        accounts = accounts.filter(organization_id=card.organization_id)
    sizes = {
        size.id for account in accounts for size in cloud_account_options(account=account)["sizes"]
    }
    return sizes or None


def rate_problems(
    *, rate_card: RateCard | None, resource_kind: str, size: str, effective_from: date
) -> dict[str, list[str]]:
    """Why a new rate may not be added, by field (empty: it may). The kind must be one Canopy
    bills, a size one the card's accounts offer, and the date not before this month: months
    before are metered (maybe closed), and keep their prices. A draft card (what-if) may price
    any date. `rate_card` None: a card being created, checked as an organization-wide one."""
    problems: dict[str, list[str]] = {}
    if resource_kind not in BILLABLE_KINDS:
        problems["resource_kind"] = [f"Choose one of: {', '.join(BILLABLE_KINDS)}."]
    if size and resource_kind not in ("server", "database"):
        problems["size"] = ["Only servers and databases have sizes; leave it empty."]
    elif size and rate_card is not None:
        offered = _offered_sizes(rate_card)
        if offered is not None and size not in offered:
            problems["size"] = [
                f"No account of this card offers {size!r}: {', '.join(sorted(offered))}."
            ]
    first_day = month_start(timezone.now().date())
    if effective_from < first_day and not (rate_card and rate_card.is_draft):
        problems["effective_from"] = [
            f"A new price starts on {first_day} or later: earlier months keep their prices."
        ]
    return problems
