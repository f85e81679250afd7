"""EC2 server snapshots, at moto: a snapshot is an AMI tagged with its server, and
`order_from_snapshot` orders it again (the ordinary submission) into a new instance of it."""

from decimal import Decimal

import pytest

from billing.models import RateCard, Unit
from catalog.services import order_from_snapshot
from catalog.tests.helpers import approved_and_built, default_item
from core.tests.factories import OrganizationFactory
from provisioning.services.day2 import resource_action_request
from provisioning.tests.helpers import ec2_account, provisioned_server
from provisioning.tests.plans import EC2_SERVER
from provisioning.tests.saga import run_queued
from tests.moto_server import boto

pytestmark = pytest.mark.django_db


def test_an_ec2_server_snapshot_is_an_ami_and_restores_into_a_new_instance(moto):
    ec2 = ec2_account(OrganizationFactory(), moto)
    # Orders are priced: the account's card prices the size the restore orders.
    RateCard.objects.create(cloud_account=ec2, name="EC2").rates.create(
        resource_kind="server", size="t3.micro", unit=Unit.HOUR, price=Decimal("0.0104")
    )
    server = provisioned_server(
        "origin",
        server=EC2_SERVER,
        item=default_item("linux-vm"),
        parameters={**EC2_SERVER, "name": "origin"},
        cloud_account=ec2,
    )
    alice = server.order.requester
    resource_action_request(user=alice, resource_id=server.pk, action="snapshot")
    run_queued()
    server.refresh_from_db()
    [ami] = server.attributes["snapshots"]
    [image] = boto(moto, "ec2").describe_images(ImageIds=[ami])["Images"]
    assert {t["Key"]: t["Value"] for t in image["Tags"]} == {
        "canopy-snapshot-of": server.canopy_tag
    }

    restored = order_from_snapshot(user=alice, resource=server, snapshot=ami, name="copy")
    built = approved_and_built(restored).resources.get(kind="server")
    [reservation] = boto(moto, "ec2").describe_instances(InstanceIds=[built.external_id])[
        "Reservations"
    ]
    assert reservation["Instances"][0]["ImageId"] == ami
