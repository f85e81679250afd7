from billing.models import RateCard


def currency_for_account(*, cloud_account_id: int | None) -> str:
    card = (
        RateCard.objects.filter(cloud_account_id=cloud_account_id).first()
        or RateCard.objects.filter(cloud_account__isnull=True).first()
    )
    return card.currency if card else "USD"
