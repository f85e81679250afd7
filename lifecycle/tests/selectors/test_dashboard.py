"""The dashboard's lifecycle summary counts the leases expiring soon that the user sees."""

import pytest

from lifecycle.models import Lease
from lifecycle.selectors.dashboard import dashboard_summary
from lifecycle.tests.helpers import (
    DAY,
    completed,
)

pytestmark = pytest.mark.django_db


def test_dashboard_summary_counts_what_the_user_sees(shop):
    order = completed(shop)
    lease = Lease.objects.get(order=order)
    soon = lease.expires_at - 2 * DAY
    summary = dashboard_summary(user=shop["alice"], now=soon)
    assert summary["expiring_count"] == 1 and summary["expiring"][0] == lease
    assert dashboard_summary(user=shop["dave"], now=soon)["expiring_count"] == 0
