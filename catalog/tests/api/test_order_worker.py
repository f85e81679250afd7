"""An order end to end through a real `celery worker` process and the real broker: admitted by
the worker, approved through the API, provisioned, then destroyed through the API."""

import pytest
from rest_framework.test import APIClient

from catalog.models import Order
from provisioning.models import Resource, SandboxObject
from tests.fixtures import order_via_api, wait_until

pytestmark = pytest.mark.worker


def test_worker_provisions_an_approved_order_and_destroys_it(world, celery_worker_process):
    alice, bob = APIClient(), APIClient()
    alice.force_authenticate(world["alice"])
    bob.force_authenticate(world["bob"])
    order_id = order_via_api(alice, world, admit=False).data["id"]
    wait_until(
        lambda: Order.objects.get(pk=order_id).status == "pending_approval",
        what="the worker admitted the order",
    )
    approval_id = Order.objects.get(pk=order_id).approval.pk
    assert bob.post(f"/api/v1/approvals/{approval_id}/approve/", {}).status_code == 200

    wait_until(lambda: Order.objects.get(pk=order_id).status == "completed", what="order completed")
    resource = Resource.objects.get(order_id=order_id)
    assert SandboxObject.objects.get().external_id == resource.external_id

    answer = alice.post(f"/api/v1/resources/{resource.pk}/actions/", {"action": "destroy"})
    assert answer.status_code == 202
    wait_until(
        lambda: Resource.objects.get(pk=resource.pk).state == "deleted", what="resource deleted"
    )
    assert not SandboxObject.objects.exists()
