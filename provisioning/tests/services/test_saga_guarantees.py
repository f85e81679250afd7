"""The provisioning saga's guarantees: idempotent steps, failures with the provider's message."""

import pytest

from approvals.services.deciding import approval_decide
from catalog.orders import order_admit, order_deploy
from catalog.services import order_submit
from provisioning.models import CloudAccount, SandboxObject, Step
from provisioning.services.reconciler import reconcile_stuck
from provisioning.services.saga import step_execute

pytestmark = pytest.mark.django_db


def _approved_order(demo):
    order = order_submit(
        user=demo["alice"],
        item=demo["linux_vm"],
        project=demo["web_shop"],
        parameters={"name": "vm-1", "size": "small"},
    )
    order_admit(order_id=order.pk)
    approval_decide(user=demo["bob"], approval_id=order.approval.pk, approve=True)
    order_deploy(order_id=order.pk)  # as the worker would
    return order


def test_a_step_delivered_twice_creates_one_server(demo):
    order = _approved_order(demo)
    step = Step.objects.get()
    step_execute(step_id=step.pk)
    step_execute(step_id=step.pk)
    order.refresh_from_db()
    assert order.status == "completed"
    assert SandboxObject.objects.count() == 1


def test_a_step_rerun_after_its_worker_died_adopts_the_server(demo):
    """The worker created the server and died before recording it: the re-run finds it by tag."""
    order = _approved_order(demo)
    step = Step.objects.get()
    from provisioning.providers import get_adapter

    resource = order.resources.get()
    get_adapter(resource.cloud_account).create("server", resource.canopy_tag, {"size": "small"})
    step_execute(step_id=step.pk)
    resource.refresh_from_db()
    assert SandboxObject.objects.get().external_id == resource.external_id


def test_a_permanent_provider_failure_fails_the_order_with_its_message(demo):
    CloudAccount.objects.update(options={"fail_on": ["server"]})
    order = _approved_order(demo)
    step_execute(step_id=Step.objects.get().pk)
    order.refresh_from_db()
    assert order.status == "failed"
    assert "refused to create a server" in order.status_message
    assert not SandboxObject.objects.exists()


def test_reconciler_moves_stuck_resources_to_error(demo, settings):
    from datetime import timedelta

    from django.utils import timezone

    order = _approved_order(demo)
    step_execute(step_id=Step.objects.get().pk)
    resource = order.resources.get()
    from provisioning.services.day2 import resource_action_request

    resource_action_request(user=demo["alice"], resource_id=resource.pk, action="stop")
    assert reconcile_stuck() == 0
    later = timezone.now() + settings.CANOPY_TRANSITION_TIMEOUT + timedelta(seconds=1)
    assert reconcile_stuck(now=later) == 1
    resource.refresh_from_db()
    assert resource.state == "error" and "stuck in stopping" in resource.status_message
