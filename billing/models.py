"""Rate cards: what a resource costs per unit, the one source of every price."""

from decimal import Decimal

from django.db import models


class RateCard(models.Model):
    """Prices for one cloud account (or the default card when `cloud_account` is empty)."""

    name = models.CharField(max_length=80)
    cloud_account = models.OneToOneField(
        "provisioning.CloudAccount", null=True, blank=True, on_delete=models.CASCADE
    )
    currency = models.CharField(max_length=3, default="USD")

    def __str__(self) -> str:
        return self.name


class Rate(models.Model):
    """The hourly price of one resource kind, optionally for one size."""

    rate_card = models.ForeignKey(RateCard, on_delete=models.CASCADE, related_name="rates")
    resource_kind = models.CharField(max_length=32)
    size = models.CharField(max_length=32, blank=True, help_text="empty: any size")
    hourly_price = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rate_card", "resource_kind", "size"], name="one_rate_per_kind_size"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_kind}/{self.size or '*'}: {self.hourly_price}/h"
