"""The sandbox's load knob (`simulated_load_set`): what it refuses, and where."""

import pytest
from django.core.exceptions import ValidationError

from provisioning.models import CloudAccount
from provisioning.services.simulation import simulated_load_set
from provisioning.tests.helpers import autoscaling_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(db):
    return autoscaling_group()


def test_the_load_knob_checks_its_input(group):
    balancer = group.order.resources.get(kind="load_balancer")
    with pytest.raises(ValidationError, match="no load"):
        simulated_load_set(resource=balancer, load="busy")
    for wrong in ("frantic", 140, "wave:0", "wave:x"):
        with pytest.raises(ValidationError):
            simulated_load_set(resource=group, load=wrong)
    CloudAccount.objects.filter(pk=group.cloud_account_id).update(provider="ec2")
    group.refresh_from_db()
    with pytest.raises(ValidationError, match="Only sandbox"):
        simulated_load_set(resource=group, load="idle")
