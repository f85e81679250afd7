"""What an order would do to its project's quotas, as the quote tells it (approvals'
quota_effect)."""

import pytest

from approvals.selectors.quota import quota_effect
from billing.pricing import monthly_quote
from catalog.selectors.menu import resolve_resources
from catalog.tests.helpers import quota_limit
from provisioning.selectors import cloud_account_for_project


@pytest.mark.django_db
def test_quota_effect_for_the_quote(demo):
    quota_limit(demo["web_shop"], max_servers=20, max_vcpus=5)
    account = cloud_account_for_project(project=demo["web_shop"])
    specs = resolve_resources(item=demo["linux_vm"], parameters={"name": "a", "size": "large"})
    messages = quota_effect(project=demo["web_shop"], cloud_account=account, resources=specs)
    assert "this order puts web-shop at 80 % of its vCPU quota" in messages
    assert "this order puts web-shop at 5 % of its server quota" in messages
    quota_limit(demo["web_shop"], max_vcpus=3)
    messages = quota_effect(project=demo["web_shop"], cloud_account=account, resources=specs)
    assert "this order exceeds web-shop's vCPU quota (4 of 3)" in messages


@pytest.mark.django_db
def test_quota_effect_counts_the_price_it_is_given(demo):
    """A caller that priced the order already passes the price; the spend quota counts it."""
    account = cloud_account_for_project(project=demo["web_shop"])
    specs = resolve_resources(item=demo["linux_vm"], parameters={"name": "a", "size": "large"})
    price = monthly_quote(cloud_account_id=account.pk, resources=specs)
    quota_limit(demo["web_shop"], max_monthly_cost=price * 4)

    def spend(**given) -> list[str]:
        messages = quota_effect(
            project=demo["web_shop"], cloud_account=account, resources=specs, **given
        )
        return [message for message in messages if "monthly spend" in message]

    assert spend() == spend(monthly_cost=price)
    assert spend() == ["this order puts web-shop at 25 % of its monthly spend quota"]
    assert spend(monthly_cost=price * 2) == [
        "this order puts web-shop at 50 % of its monthly spend quota"
    ]
