"""The provisioning saga's guarantees: idempotent steps, failures with the provider's message."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import CloudAccount, SandboxObject, Step
from provisioning.providers import get_adapter
from provisioning.services.day2 import resource_action_request
from provisioning.services.reconciler import reconcile_stuck
from provisioning.services.saga import deployment_start, step_execute
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import server_plan
from provisioning.tests.saga import order_status

pytestmark = pytest.mark.django_db


def _deploying_order(**fields):
    """An approved order of one server, its deployment started (as the worker would)."""
    order = ApprovedOrderFactory(resources=server_plan(name="vm-1"), **fields)
    deployment_start(order=order)
    return order


def test_a_step_delivered_twice_creates_one_server():
    order = _deploying_order()
    step = Step.objects.get()
    step_execute(step_id=step.pk)
    step_execute(step_id=step.pk)
    assert order_status(order) == "completed"
    assert SandboxObject.objects.count() == 1


def test_a_step_rerun_after_its_worker_died_adopts_the_server():
    """The worker created the server and died before recording it: the re-run finds it by tag."""
    order = _deploying_order()
    step = Step.objects.get()
    resource = order.resources.get()
    get_adapter(resource.cloud_account).create("server", resource.canopy_tag, {"size": "small"})
    step_execute(step_id=step.pk)
    resource.refresh_from_db()
    assert SandboxObject.objects.get().external_id == resource.external_id


def test_a_permanent_provider_failure_fails_the_order_with_its_message():
    order = ApprovedOrderFactory(resources=server_plan(name="vm-1"))
    CloudAccount.objects.update(options={"fail_on": ["server"]})
    deployment_start(order=order)
    step_execute(step_id=Step.objects.get().pk)
    assert order_status(order) == "failed"
    assert "refused to create a server" in order.status_message
    assert not SandboxObject.objects.exists()


def test_reconciler_moves_stuck_resources_to_error(settings):
    member = UserFactory()
    order = _deploying_order(project=ProjectFactory(members=[member]), requester=member)
    step_execute(step_id=Step.objects.get().pk)
    resource = order.resources.get()
    resource_action_request(user=member, resource_id=resource.pk, action="stop")
    assert reconcile_stuck() == 0
    later = timezone.now() + settings.CANOPY_TRANSITION_TIMEOUT + timedelta(seconds=1)
    assert reconcile_stuck(now=later) == 1
    resource.refresh_from_db()
    assert resource.state == "error" and "stuck in stopping" in resource.status_message
