"""How lifecycle's notices speak: moments in local time, and links to where the owner
acts."""

from datetime import datetime

from django.urls import reverse
from django.utils import timezone


def moment_text(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def order_url(order_id: int) -> str:
    return reverse("catalog:order_detail", args=[order_id])


def act_url(resource_id: int) -> str:
    """The resource page's lease and keep panel: Extend (one click) and Keep (with a reason)."""
    return reverse("provisioning:resource_detail", args=[resource_id]) + "#resource-lease"
