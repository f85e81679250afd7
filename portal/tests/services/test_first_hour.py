"""The first hour of every persona (issue 16), as the saga provisions: a DNS record takes the
type of what it names."""

import pytest

from portal.tests.helpers import provisioned
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def test_dns_records_take_the_type_of_what_they_name(demo):
    """A for a server's IP, CNAME for a load balancer's host name."""
    tier = provisioned(demo, "web-tier", name="shop", instances=1, zone="apps.example.com")
    host = provisioned(demo, "dns-record", name="named-1", record="www", zone="apps.example.com")
    types = {
        order.item.slug: Resource.objects.get(order=order, kind="dns_record").attributes["type"]
        for order in (tier, host)
    }
    assert types == {"web-tier": "CNAME", "dns-record": "A"}
