"""The one pricing engine: the order quote and (later) metered charges use these rates."""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q

from billing.models import Rate

HOURS_PER_MONTH = Decimal("730")  # the cloud industry's convention for monthly prices


def hourly_rate(*, cloud_account_id: int | None, kind: str, size: str = "") -> Decimal:
    """The account's rate for kind/size, falling back to any-size and then to the default card."""
    rates = Rate.objects.filter(
        Q(rate_card__cloud_account_id=cloud_account_id) | Q(rate_card__cloud_account__isnull=True),
        resource_kind=kind,
        size__in=[size, ""],
    )
    # Most specific first: the account's own card, then an exact size.
    best = sorted(
        rates.values("hourly_price", "size", "rate_card__cloud_account_id"),
        key=lambda r: (r["rate_card__cloud_account_id"] is None, r["size"] == ""),
    )
    return best[0]["hourly_price"] if best else Decimal("0")


def monthly_quote(*, cloud_account_id: int | None, resources: list[dict]) -> Decimal:
    """Monthly estimate for resolved resource specs (`{"kind", "properties"}`), to the cent."""
    total = sum(
        (
            hourly_rate(
                cloud_account_id=cloud_account_id,
                kind=spec["kind"],
                size=str(spec["properties"].get("size", "")),
            )
            for spec in resources
        ),
        Decimal("0"),
    )
    return (total * HOURS_PER_MONTH).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
