"""The plans provisioning's tests pin (`provisioning/tests/helpers.py`) are the ones catalog
resolves from the default catalog's items: provisioning's tests deploy what orders deploy."""

import pytest

from catalog.selectors.menu import resolve_resources
from catalog.tests.helpers import default_item
from provisioning.tests.plans import (
    EC2_SERVER,
    SANDBOX_SERVER,
    autoscaling_web_tier_plan,
    server_plan,
    web_tier_plan,
)

pytestmark = pytest.mark.django_db

EC2_TIER = {"volume_gb": 5, "zone": "shop.test", **EC2_SERVER}


@pytest.mark.parametrize(
    ("slug", "parameters", "plan"),
    [
        ("linux-vm", {"name": "vm1", **SANDBOX_SERVER}, server_plan()),
        ("linux-vm", {"name": "origin", **EC2_SERVER}, server_plan("origin", **EC2_SERVER)),
        ("web-tier", {"name": "shop", "instances": 2, **SANDBOX_SERVER}, web_tier_plan()),
        (
            "web-tier",
            {"name": "shop", "instances": 2, **EC2_TIER},
            web_tier_plan("shop", 2, **EC2_TIER),
        ),
        (
            "autoscaling-web-tier",
            {"name": "shop", "instances": 2, **SANDBOX_SERVER},
            autoscaling_web_tier_plan(),
        ),
        (
            "autoscaling-web-tier",
            {"name": "shop", "instances": 1, "max_instances": 3, "zone": "shop.test", **EC2_SERVER},
            autoscaling_web_tier_plan("shop", 1, max_instances=3, zone="shop.test", **EC2_SERVER),
        ),
    ],
)
def test_provisionings_test_plans_are_the_default_items_resolved(slug, parameters, plan):
    assert resolve_resources(item=default_item(slug), parameters=parameters) == plan
