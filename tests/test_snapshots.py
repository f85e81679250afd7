"""Server snapshots where the provider has them (the sandbox; EC2: an AMI, at moto), listed on the
resource page, and a restore into a new server through the ordinary order submission."""

from decimal import Decimal

import pytest

from billing.models import RateCard, Unit
from catalog.models import Order
from catalog.services import order_from_snapshot
from provisioning.models import SandboxObject
from provisioning.services.day2 import resource_action_request
from provisioning.services.saga import deployment_start
from tests.moto_server import boto
from tests.saga import approved_order, run_queued
from tests.test_metrics_sources import ec2_fixture, ec2_order  # noqa: F401  (ec2: fixture)

pytestmark = pytest.mark.django_db


def _approved_and_built(order: Order) -> Order:
    """What approval does next (the approvals app's concern): build it."""
    Order.objects.filter(pk=order.pk).update(status="approved")
    order.refresh_from_db()
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed", order.status_message
    return order


def test_a_sandbox_server_snapshot_is_listed_and_restored_as_an_order(demo, api_as, client):
    order = approved_order(demo, "linux-vm", name="origin")
    deployment_start(order=order)
    run_queued()
    server = order.resources.get(kind="server")
    api = api_as(demo["alice"])
    # Immediate (it changes neither cost nor capacity): no change order.
    answer = api.post(f"/api/v1/resources/{server.pk}/actions/", {"action": "snapshot"})
    assert answer.status_code == 200, answer.content
    run_queued()
    server.refresh_from_db()
    [snapshot] = server.attributes["snapshots"]
    assert server.state == "active"
    client.force_login(demo["alice"])
    page = client.get(f"/resources/{server.pk}/").content.decode()
    assert 'data-testid="resource-snapshots"' in page and snapshot in page
    # A later action leaves the list as it was.
    resource_action_request(user=demo["alice"], resource_id=server.pk, action="reboot")
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
    built = _approved_and_built(restored).resources.get(kind="server")
    assert SandboxObject.objects.get(external_id=built.external_id).attributes["image"] == snapshot


def test_an_ec2_server_snapshot_is_an_ami_and_restores_into_a_new_instance(demo, ec2, moto):
    # Orders are priced: the account's card prices the size the restore orders.
    RateCard.objects.create(cloud_account=ec2, name="EC2").rates.create(
        resource_kind="server", size="t3.micro", unit=Unit.HOUR, price=Decimal("0.0104")
    )
    server = ec2_order(demo, ec2, "linux-vm", name="origin").resources.get(kind="server")
    resource_action_request(user=demo["alice"], resource_id=server.pk, action="snapshot")
    run_queued()
    server.refresh_from_db()
    [ami] = server.attributes["snapshots"]
    [image] = boto(moto, "ec2").describe_images(ImageIds=[ami])["Images"]
    assert {t["Key"]: t["Value"] for t in image["Tags"]} == {
        "canopy-snapshot-of": server.canopy_tag
    }

    restored = order_from_snapshot(user=demo["alice"], resource=server, snapshot=ami, name="copy")
    built = _approved_and_built(restored).resources.get(kind="server")
    [reservation] = boto(moto, "ec2").describe_instances(InstanceIds=[built.external_id])[
        "Reservations"
    ]
    assert reservation["Instances"][0]["ImageId"] == ami
