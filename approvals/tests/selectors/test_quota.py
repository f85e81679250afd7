"""What an order would do to its project's quotas, as the quote tells it (quota_effect)."""

from decimal import Decimal

import pytest

from approvals.models import Quota
from approvals.selectors.quota import quota_effect
from approvals.tests.factories import QuotaFactory
from billing.pricing import monthly_quote
from billing.tests.factories import RateCardFactory
from core.models import Project
from core.tests.factories import ProjectFactory
from provisioning.models import CloudAccount
from provisioning.tests.factories import CloudAccountFactory

pytestmark = pytest.mark.django_db

# One large server (4 vCPUs on the sandbox), as an item's template resolves it.
LARGE_SERVER = [
    {
        "key": "vm",
        "kind": "server",
        "name": "a",
        "count": 1,
        "depends_on": [],
        "properties": {"size": "large", "image": "ubuntu-24.04", "location": "sandbox-1a"},
    }
]


@pytest.fixture
def web_shop() -> tuple[Project, CloudAccount]:
    """web-shop and a sandbox account of its organization, whose servers are priced."""
    project = ProjectFactory(name="web-shop", slug="web-shop")
    RateCardFactory(organization=project.organization, rates={"server": Decimal("0.16")})
    return project, CloudAccountFactory(organization=project.organization)


def test_quota_effect_for_the_quote(web_shop):
    project, account = web_shop
    QuotaFactory(project=project, max_servers=20, max_vcpus=5)
    messages = quota_effect(project=project, cloud_account=account, resources=LARGE_SERVER)
    assert "this order puts web-shop at 80 % of its vCPU quota" in messages
    assert "this order puts web-shop at 5 % of its server quota" in messages
    Quota.objects.filter(project=project).update(max_vcpus=3)
    messages = quota_effect(project=project, cloud_account=account, resources=LARGE_SERVER)
    assert "this order exceeds web-shop's vCPU quota (4 of 3)" in messages


def test_quota_effect_counts_the_price_it_is_given(web_shop):
    """A caller that priced the order already passes the price; the spend quota counts it."""
    project, account = web_shop
    price = monthly_quote(cloud_account_id=account.pk, resources=LARGE_SERVER)
    QuotaFactory(project=project, max_monthly_cost=price * 4)

    def spend(**given) -> list[str]:
        messages = quota_effect(
            project=project, cloud_account=account, resources=LARGE_SERVER, **given
        )
        return [message for message in messages if "monthly spend" in message]

    assert spend() == spend(monthly_cost=price)
    assert spend() == ["this order puts web-shop at 25 % of its monthly spend quota"]
    assert spend(monthly_cost=price * 2) == [
        "this order puts web-shop at 50 % of its monthly spend quota"
    ]
