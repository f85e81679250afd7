"""An EC2 account's options (locations, images, sizes) as the background refresh reads them
from the cloud, at moto, and as the order forms then offer them."""

import pytest

from core.tests.factories import OrganizationFactory
from provisioning.selectors import cloud_account_options
from provisioning.services.accounts import account_options_refresh
from provisioning.tests.helpers import ec2_account
from provisioning.tests.plans import IMAGE

pytestmark = pytest.mark.django_db


def test_order_forms_offer_the_clouds_options(moto):
    account = ec2_account(OrganizationFactory(), moto)
    account_options_refresh(account_id=account.pk)  # what the background refresh runs
    options = cloud_account_options(account=account)
    assert "us-east-1a" in [o.id for o in options["locations"]]
    assert [o.id for o in options["images"]] == [IMAGE]
    assert [s.id for s in options["sizes"]][:2] == ["t3.micro", "t3.small"]
