"""End to end: a web tier on EC2 through real Celery workers, checked at moto (what Canopy
created, then that destroying the order leaves nothing tagged behind)."""

import pytest

from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import Resource
from provisioning.services.saga import deployment_start, order_resources_destroy
from provisioning.tests.helpers import ec2_account, planned_order
from provisioning.tests.plans import EC2_SERVER, web_tier_plan
from tests.fixtures import wait_until
from tests.moto_server import boto


def _canopy_objects(url: str) -> dict[str, set]:
    """What moto holds that carries Canopy's tag, by kind (root disks carry none)."""
    ec2 = boto(url, "ec2")
    live = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}
    tagged = {"Name": "tag-key", "Values": ["canopy-id"]}
    instances = [
        i
        for r in ec2.describe_instances(Filters=[live, tagged])["Reservations"]
        for i in r["Instances"]
    ]
    volumes = ec2.describe_volumes(Filters=[tagged])["Volumes"]
    elb = boto(url, "elb")
    balancers = elb.describe_load_balancers()["LoadBalancerDescriptions"]
    route53 = boto(url, "route53")
    records = [
        (r["Type"], r["Name"])
        for zone in route53.list_hosted_zones()["HostedZones"]
        for r in route53.list_resource_record_sets(HostedZoneId=zone["Id"])["ResourceRecordSets"]
        if r["Type"] not in ("NS", "SOA")
    ]

    def tag(obj: dict) -> str:
        return {t["Key"]: t["Value"] for t in obj.get("Tags", [])}["canopy-id"]

    return {
        "server": {tag(i) for i in instances},
        "volume": {(tag(v), v["Attachments"][0]["InstanceId"]) for v in volumes},
        "network": {tag(v) for v in ec2.describe_vpcs(Filters=[tagged])["Vpcs"]},
        "load_balancer": {
            (b["LoadBalancerName"], frozenset(m["InstanceId"] for m in b["Instances"]))
            for b in balancers
        },
        "dns_record": set(records),
    }


@pytest.mark.worker
def test_web_tier_on_ec2_end_to_end(moto, celery_worker_process):
    boto(moto, "route53").create_hosted_zone(Name="shop.test", CallerReference="e2e")
    alice = UserFactory()
    project = ProjectFactory(members=[alice])
    account = ec2_account(project.organization, moto)
    plan = web_tier_plan("shop", instances=2, volume_gb=5, zone="shop.test", **EC2_SERVER)
    order = planned_order(plan, project=project, requester=alice, cloud_account=account)
    deployment_start(order=order)

    def status() -> str:
        order.refresh_from_db()
        return order.status

    wait_until(
        lambda: status() in ("completed", "failed"), timeout=120, what="the web tier provisioned"
    )
    assert order.status == "completed", order.status_message

    resources: dict[str, list[Resource]] = {}
    for resource in order.resources.all():
        resources.setdefault(resource.key, []).append(resource)
    servers = {r.canopy_tag: r.external_id for r in resources["web"]}
    at_moto = _canopy_objects(moto)
    assert at_moto["server"] == set(servers) and len(servers) == 2
    assert at_moto["network"] == {r.canopy_tag for r in resources["net"]}
    # one data volume on each server
    assert {tag for tag, _ in at_moto["volume"]} == {r.canopy_tag for r in resources["data"]}
    assert sorted(server for _, server in at_moto["volume"]) == sorted(servers.values())
    assert at_moto["load_balancer"] == {
        (resources["lb"][0].canopy_tag, frozenset(servers.values()))
    }
    assert at_moto["dns_record"] == {
        ("CNAME", "shop.shop.test."),  # an ELB has a DNS name, no fixed address
        ("TXT", f"{resources['dns'][0].canopy_tag}.shop.test."),  # Canopy's ownership marker
    }

    order_resources_destroy(user=alice, order=order)
    wait_until(
        lambda: set(order.resources.values_list("state", flat=True)) <= {"deleted", "error"},
        timeout=120,
        what="the web tier destroyed",
    )
    assert set(order.resources.values_list("state", flat=True)) == {"deleted"}
    assert _canopy_objects(moto) == {
        "server": set(),
        "volume": set(),
        "network": set(),
        "load_balancer": set(),
        "dns_record": set(),
    }
