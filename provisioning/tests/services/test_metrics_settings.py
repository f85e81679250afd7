"""An account's metrics settings are checked when it is saved: a known source the provider can
use, a Prometheus's url and queries, CloudWatch's period."""

import pytest
from django.core.exceptions import ValidationError

from core.tests.factories import OrganizationFactory
from provisioning.services.accounts import cloud_account_validate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("metrics", "provider", "problem"),
    [
        ({"source": "graphite"}, "ec2", 'Unknown metrics source "graphite"'),
        ({"source": "prometheus"}, "openstack", "needs its http(s) url"),
        ({"source": "simulated"}, "ec2", "Only sandbox accounts"),
        ({"source": "cloudwatch", "interval": "5m"}, "ec2", "whole seconds"),
        (
            {"source": "prometheus", "url": "http://p:9090", "cpu_query": "up"},
            "gce",
            "cpu_query must select the servers with $instances",
        ),
        ("cloudwatch", "ec2", '"metrics" must be an object'),
    ],
)
def test_metrics_settings_are_checked(metrics, provider, problem):
    with pytest.raises(ValidationError) as caught:
        cloud_account_validate(
            organization=OrganizationFactory(),
            data={"provider": provider, "options": {"metrics": metrics}},
        )
    assert problem in " ".join(caught.value.message_dict["options"])
