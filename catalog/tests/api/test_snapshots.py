"""Server snapshots through the API (the sandbox's): taken at once, listed on the resource
page, and restored into a new server through the ordinary order submission. (EC2's, an AMI at
moto: catalog/tests/services/test_snapshots.py.)"""

import pytest

from catalog.models import Order
from catalog.tests.factories import SandboxAccountFactory
from catalog.tests.helpers import approved_and_built, default_item
from provisioning.models import SandboxObject
from provisioning.services.day2 import resource_action_request
from provisioning.tests.helpers import provisioned_server
from provisioning.tests.plans import SANDBOX_SERVER
from provisioning.tests.saga import run_queued

pytestmark = pytest.mark.django_db


def test_a_sandbox_server_snapshot_is_listed_and_restored_as_an_order(api_as, client):
    server = provisioned_server(
        "origin",
        item=default_item("linux-vm"),
        parameters={**SANDBOX_SERVER, "name": "origin"},
        cloud_account=SandboxAccountFactory(),  # its list prices quote the restore
    )
    order, alice = server.order, server.order.requester
    api = api_as(alice)
    # Immediate (it changes neither cost nor capacity): no change order.
    answer = api.post(f"/api/v1/resources/{server.pk}/actions/", {"action": "snapshot"})
    assert answer.status_code == 200, answer.content
    run_queued()
    server.refresh_from_db()
    [snapshot] = server.attributes["snapshots"]
    assert server.state == "active"
    client.force_login(alice)
    page = client.get(f"/resources/{server.pk}/").content.decode()
    assert 'data-testid="resource-snapshots"' in page and snapshot in page
    # A later action leaves the list as it was.
    resource_action_request(user=alice, resource_id=server.pk, action="reboot")
    run_queued()
    server.refresh_from_db()
    assert server.attributes["snapshots"] == [snapshot]

    refused = api.post(
        f"/api/v1/resources/{server.pk}/restore/", {"snapshot": "snap-nope", "name": "copy"}
    )
    assert refused.status_code == 400 and "snapshot" in refused.json()
    answer = api.post(
        f"/api/v1/resources/{server.pk}/restore/", {"snapshot": snapshot, "name": "copy"}
    )
    assert answer.status_code == 201, answer.content
    restored = Order.objects.get(pk=answer.json()["id"])
    assert (restored.status, restored.item, restored.parameters["image"]) == (
        "submitted",
        order.item,
        snapshot,
    )
    built = approved_and_built(restored).resources.get(kind="server")
    assert SandboxObject.objects.get(external_id=built.external_id).attributes["image"] == snapshot
