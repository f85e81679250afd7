"""An order's resources changed through the API: destroying the order is a destroy order that
"Acme deletions" approves, and day-2 actions that add cost become change orders ("Acme small
changes" approves those), the others run at once; each leaves its lifecycle event."""

import pytest
from django.db.models import Q

from catalog.tests.saga import admit_and_deploy, approved_order, run_queued
from provisioning.models import Resource, ResourceEvent, SandboxObject
from provisioning.services.saga import deployment_start

pytestmark = pytest.mark.django_db


def test_destroying_an_order_is_a_destroy_order_then_the_saga_in_reverse(world, api_as):
    order = approved_order(world, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    answer = api_as(world["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert answer.status_code == 202, answer.data
    assert answer.data["kind"] == "destroy"  # a destroy order, which "Acme deletions" approves
    admit_and_deploy(answer.data["id"])
    run_queued()
    assert not SandboxObject.objects.exists()
    again = api_as(world["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert again.status_code == 400


def test_day2_actions_record_lifecycle_events(world, api_as):
    order = approved_order(world, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    server = order.resources.get(kind="server")
    volume = order.resources.get(kind="volume")
    alice = api_as(world["alice"])

    def act(resource: Resource, body: dict) -> int:
        """Request an action; a change order (202) is admitted, and approved by "Acme small
        changes" (it adds under 20/month)."""
        answer = alice.post(f"/api/v1/resources/{resource.pk}/actions/", body)
        if answer.status_code == 202:
            admit_and_deploy(answer.data["id"])
        run_queued()
        return answer.status_code

    assert [act(server, {"action": a}) for a in ("stop", "start")] == [200, 200]
    assert act(server, {"action": "resize", "size": "medium"}) == 202
    assert act(volume, {"action": "extend", "size_gb": 50}) == 202
    assert act(volume, {"action": "snapshot"}) == 200
    assert SandboxObject.objects.get(name=server.canopy_tag).size == "medium"
    volume_object = SandboxObject.objects.get(name=volume.canopy_tag)
    assert volume_object.attributes["size_gb"] == 50 and volume_object.attributes["snapshots"]
    events = list(
        ResourceEvent.objects.filter(Q(resource=server) | Q(resource=volume)).values_list(
            "resource__kind", "kind", "size", "quantity"
        )
    )
    assert [(kind, event, size, int(quantity)) for kind, event, size, quantity in events] == [
        ("server", "created", "small", 1),
        ("volume", "created", "", 10),
        ("server", "stopped", "small", 1),
        ("server", "started", "small", 1),
        ("server", "resized", "medium", 1),
        ("volume", "resized", "", 50),
    ]
    bad = alice.post(f"/api/v1/resources/{volume.pk}/actions/", {"action": "extend", "size_gb": 5})
    assert bad.status_code == 400 and "size_gb" in bad.data
    wrong = alice.post(f"/api/v1/resources/{volume.pk}/actions/", {"action": "reboot"})
    assert wrong.status_code == 400 and "action" in wrong.data
