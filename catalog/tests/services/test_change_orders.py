"""Change orders as the workers carry them out: a redelivered change is applied once, a failed one
fails its order with the provider's message and releases its reservation."""

import pytest

from approvals.models import LedgerStatus, QuotaEntry
from catalog.models import Order
from catalog.orders import order_deploy
from catalog.tests.helpers import decide_and_deploy, provisioned, reserved_vcpus
from catalog.tests.saga import admit_and_deploy, run_queued
from core.models import AuditEvent
from provisioning.models import Deployment, SandboxObject, Step
from provisioning.services.saga import step_execute

pytestmark = pytest.mark.django_db


def test_a_redelivered_change_is_applied_once(world, api_as):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    change_id = answer.data["id"]
    admit_and_deploy(change_id)
    admit_and_deploy(change_id)  # the admission message delivered twice
    decide_and_deploy(bob, change_id)
    decide_and_deploy(carol, change_id)
    change = Order.objects.get(pk=change_id)
    assert order_deploy(order_id=change.pk) is None  # a second start finds it provisioning
    steps = list(Step.objects.filter(deployment__change_order=change))
    assert len(steps) == 1
    step_execute(step_id=steps[0].pk)
    step_execute(step_id=steps[0].pk)  # the worker died before acknowledging: delivered again
    change.refresh_from_db()
    assert change.status == "completed"
    assert Deployment.objects.filter(change_order=change).count() == 1
    assert QuotaEntry.objects.filter(order=change, status=LedgerStatus.COMMITTED).count() == 1
    resized = AuditEvent.objects.filter(
        action="resource.state", target_id=str(server.pk), to_state="updating"
    )
    assert resized.count() == 1


def test_a_failed_change_fails_its_order_with_the_providers_message(world, api_as):
    alice, bob, carol = (api_as(world[name]) for name in ("alice", "bob", "carol"))
    server = provisioned(world, "linux-vm", name="web-1").resources.get()
    answer = alice.post(
        f"/api/v1/resources/{server.pk}/actions/", {"action": "resize", "size": "large"}
    )
    admit_and_deploy(answer.data["id"])
    decide_and_deploy(bob, answer.data["id"])
    decide_and_deploy(carol, answer.data["id"])
    SandboxObject.objects.filter(name=server.canopy_tag).delete()  # gone behind Canopy's back
    run_queued()
    change = Order.objects.get(pk=answer.data["id"])
    assert change.status == "failed" and change.status_message
    server.refresh_from_db()
    assert server.properties["size"] == "small"
    assert reserved_vcpus() == 0
