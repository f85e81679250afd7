"""The ec2 adapter against moto: first libcloud's own drivers straight at the test server (each
test proves a fix of `tests.moto_server.LibcloudCompat`), then what only the ec2 adapter does."""

from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError
from libcloud.compute.drivers.ec2 import EC2NodeDriver
from libcloud.dns.drivers.route53 import Route53DNSDriver
from libcloud.dns.types import RecordType
from libcloud.loadbalancer.base import Algorithm, Member
from libcloud.loadbalancer.drivers.elb import ElasticLBDriver

from core.tests.factories import OrganizationFactory
from provisioning.models import CloudAccount
from provisioning.providers import get_adapter
from provisioning.providers.base import ProviderError
from provisioning.providers.ec2 import Ec2Adapter
from provisioning.providers.libcloud_common import endpoint_parts, provider_errors
from provisioning.tests.helpers import KEY, SECRET, ec2_account
from provisioning.tests.plans import IMAGE
from tests.moto_server import boto, start_moto


def ec2_driver(url: str, **kwargs: Any) -> EC2NodeDriver:
    kwargs.setdefault("signature_version", "4")
    return EC2NodeDriver(KEY, SECRET, region="us-east-1", **endpoint_parts(url), **kwargs)


def repointed(driver: Any, url: str) -> Any:
    for key, value in endpoint_parts(url).items():
        setattr(driver.connection, key, value)
    driver.connection.connect()
    return driver


def new_node(driver: EC2NodeDriver, name: str) -> Any:
    image = driver.list_images(ex_image_ids=[IMAGE])[0]
    size = next(s for s in driver.list_sizes() if s.id == "t3.micro")
    return driver.create_node(name=name, size=size, image=image)


# -- libcloud straight at moto: one test per mismatch fixed -------------------------------------


def test_ec2_nodes_with_tags(moto):
    driver = ec2_driver(moto)
    # (2) elements are found only with AWS's namespace
    assert "us-east-1a" in [loc.availability_zone.name for loc in driver.list_locations()]
    node = new_node(driver, "canopy-1")
    # (4) 0-based CreateTags indexes
    assert driver.ex_create_tags(node, {"canopy-id": "canopy-1", "team": "web"})
    [listed] = driver.list_nodes(ex_filters={"tag:canopy-id": "canopy-1"})
    assert listed.extra["tags"] == {"Name": "canopy-1", "canopy-id": "canopy-1", "team": "web"}
    # (5) empty results answer <return>true</return>
    assert driver.reboot_node(node) is True
    assert driver.destroy_node(node) is True
    states = boto(moto, "ec2").describe_instances()["Reservations"][0]["Instances"]
    assert [i["State"]["Name"] for i in states] == ["terminated"]


def test_ec2_signature_v2_reaches_ec2(moto):
    # (1) SigV2 calls carry no service name; they must not land in S3
    driver = ec2_driver(moto, signature_version="2")
    assert [z.name for z in driver.ex_list_availability_zones()][:1] == ["us-east-1a"]


def test_ec2_error_keeps_the_provider_message(moto):
    # (3) the error <Response> carries no namespace, so libcloud reads the message
    with pytest.raises(BaseHTTPError, match=r"InvalidVolume.NotFound: .*vol-0000"):
        ec2_driver(moto).destroy_volume(_Id("vol-00000000000000000"))


def test_volume_create_attach_detach_delete(moto):
    driver = ec2_driver(moto)
    node = new_node(driver, "canopy-2")
    zone = next(loc for loc in driver.list_locations() if loc.name == "us-east-1a")
    volume = driver.create_volume(size=5, name="canopy-3", location=zone)
    assert driver.attach_volume(node, volume, device="/dev/sdf")
    assert driver.list_volumes(ex_filters={"volume-id": volume.id})[0].extra["instance_id"]
    # (6) DetachVolume names only the volume
    assert driver.detach_volume(volume) is True
    assert driver.destroy_volume(volume) is True
    volumes = boto(moto, "ec2").describe_volumes()["Volumes"]
    assert [v["Attachments"][0]["Device"] for v in volumes] == ["/dev/sda1"]  # the root disk


def test_network_subnet_security_group(moto):
    driver = ec2_driver(moto)
    vpc = driver.ex_create_network("10.8.0.0/16", name="canopy-4")
    subnet = driver.ex_create_subnet(vpc.id, "10.8.1.0/24", "us-east-1a", name="canopy-4")
    group = driver.ex_create_security_group("canopy-4", "web", vpc_id=vpc.id)
    assert driver.ex_authorize_security_group_ingress(group["group_id"], 80, 80, ["0.0.0.0/0"])
    [found] = driver.ex_list_subnets(filters={"vpc-id": vpc.id})
    assert (found.id, found.extra["tags"]["Name"]) == (subnet.id, "canopy-4")
    assert driver.ex_delete_security_group_by_id(group["group_id"])
    assert driver.ex_delete_subnet(subnet)
    assert driver.ex_delete_network(vpc)
    assert (
        boto(moto, "ec2").describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["canopy-4"]}])[
            "Vpcs"
        ]
        == []
    )


def test_elb_create_attach_detach_delete(moto):
    # (7) the ELB driver posts to /2012-06-01/
    node = new_node(ec2_driver(moto), "canopy-5")
    elb = repointed(ElasticLBDriver(KEY, SECRET, region="us-east-1"), moto)
    balancer = elb.create_balancer("canopy-6", 80, "http", Algorithm.ROUND_ROBIN, [])
    elb.balancer_attach_compute_node(balancer, node)
    assert [m.id for m in elb.get_balancer("canopy-6").list_members()] == [node.id]
    assert elb.balancer_detach_member(balancer, Member(node.id, None, None))
    assert elb.get_balancer("canopy-6").list_members() == []
    assert elb.destroy_balancer(balancer)
    assert boto(moto, "elb").describe_load_balancers()["LoadBalancerDescriptions"] == []


def test_route53_zone_and_record(moto):
    # (7) the Route53 driver speaks the 2012-02-29 API with an AWS3 auth header
    dns = repointed(Route53DNSDriver(KEY, SECRET), moto)
    zone = dns.create_zone("shop.test.")
    record = dns.create_record("www", zone, RecordType.A, "203.0.113.7", extra={"ttl": 60})
    assert [(r.name, r.data) for r in dns.list_records(zone) if r.type == RecordType.A] == [
        ("www", "203.0.113.7")
    ]
    assert dns.delete_record(record)
    assert dns.delete_zone(zone)
    assert boto(moto, "route53").list_hosted_zones()["HostedZones"] == []


# -- the ec2 adapter ----------------------------------------------------------------------------


@pytest.fixture
def account(db, moto) -> CloudAccount:
    return ec2_account(OrganizationFactory(), moto)


def test_registry_builds_the_ec2_adapter(account):
    assert isinstance(get_adapter(account), Ec2Adapter)


def test_missing_credentials_are_named(account):
    account.credentials = {"access_key": KEY}
    with pytest.raises(ProviderError, match="lack secret_key"):
        Ec2Adapter(account)


def test_options_come_from_the_cloud(account):
    adapter = Ec2Adapter(account)
    adapter.test_connection()
    assert "us-east-1b" in [o.id for o in adapter.list_locations()]
    assert [o.id for o in adapter.list_images()] == [IMAGE]
    micro = next(s for s in adapter.list_sizes() if s.id == "t3.micro")
    assert (micro.vcpus, micro.ram_gb) == (2, 1)


def test_unreachable_endpoint_is_transient_and_says_so(account):
    account.endpoint_url = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(ProviderError, match=r"Cannot reach http://127.0.0.1:9") as caught:
        Ec2Adapter(account).test_connection()
    assert caught.value.transient


def test_refused_credentials_are_permanent_and_say_so(account):
    # A second moto that checks credentials against its IAM (none are known there).
    for url in start_moto(INITIAL_NO_AUTH_ACTION_COUNT="0"):
        account.endpoint_url = url
        with pytest.raises(ProviderError, match="refused the credentials") as caught:
            Ec2Adapter(account).test_connection()
        assert not caught.value.transient


@pytest.mark.parametrize(
    ("raised", "transient"),
    [
        (BaseHTTPError(400, "RequestLimitExceeded: Request limit exceeded."), True),
        (BaseHTTPError(503, "Unavailable: The service is unavailable."), True),
        (BaseHTTPError(400, "InvalidAMIID.Malformed: Invalid id: ami-x"), False),
        (InvalidCredsError("AuthFailure: AWS was not able to validate the credentials"), False),
        (TimeoutError("timed out"), True),
    ],
)
def test_errors_keep_the_message_and_say_whether_to_retry(raised, transient):
    with pytest.raises(ProviderError) as caught, provider_errors("AWS us-east-1"):
        raise raised
    assert caught.value.transient is transient
    assert str(raised.args[0]).split(":")[0] in caught.value.message


def test_half_created_volume_is_attached_by_ensure(account, moto):
    adapter = Ec2Adapter(account)
    server = adapter.create("server", "canopy-20", {"size": "t3.micro", "image": IMAGE})
    # A previous attempt died between CreateVolume and AttachVolume.
    driver = ec2_driver(moto)
    zone = next(loc for loc in driver.list_locations() if loc.name == "us-east-1a")
    orphan = driver.create_volume(size=3, name="canopy-21", location=zone)
    driver.ex_create_tags(orphan, {"Name": "canopy-21", "canopy-id": "canopy-21"})
    volume = adapter.ensure("volume", "canopy-21", {"size_gb": 3, "server_id": server.external_id})
    assert (volume.external_id, volume.attributes["server_id"]) == (orphan.id, server.external_id)


def test_half_created_network_is_completed_by_ensure(account, moto):
    # A previous attempt died after CreateVpc.
    driver = ec2_driver(moto)
    vpc = driver.ex_create_network("10.22.0.0/16", name="canopy-22")
    driver.ex_create_tags(vpc, {"Name": "canopy-22", "canopy-id": "canopy-22"})
    adapter = Ec2Adapter(account)
    network = adapter.ensure("network", "canopy-22", {"cidr": "10.22.0.0/16"})
    assert network.external_id == vpc.id
    assert network.attributes["subnet_id"] and network.attributes["security_group_id"]
    assert adapter.ensure("network", "canopy-22", {"cidr": "10.22.0.0/16"}) == network
    assert (
        len(
            boto(moto, "ec2").describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc.id]}])[
                "Subnets"
            ]
        )
        == 1
    )


def test_servers_join_the_network_subnet_and_group(account, moto):
    adapter = Ec2Adapter(account)
    network = adapter.create("network", "canopy-30", {"cidr": "10.30.0.0/16"})
    server = adapter.create(
        "server",
        "canopy-31",
        {"size": "t3.micro", "image": IMAGE, "network_id": network.external_id},
    )
    [instance] = boto(moto, "ec2").describe_instances(InstanceIds=[server.external_id])[
        "Reservations"
    ][0]["Instances"]
    assert instance["SubnetId"] == network.attributes["subnet_id"]
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [
        network.attributes["security_group_id"]
    ]
    adapter.delete("server", server.external_id)
    adapter.delete("network", network.external_id)
    assert adapter.list_tagged() == []


def test_an_a_record_naming_a_host_is_written_as_a_cname(account, moto):
    boto(moto, "route53").create_hosted_zone(Name="shop.test", CallerReference="cname")
    adapter = Ec2Adapter(account)
    balancer = adapter.create(
        "load_balancer", "canopy-40", {"protocol": "http", "port": 80, "members": []}
    )
    record = adapter.create(
        "dns_record",
        "canopy-41",
        {
            "zone": "shop.test",
            "record": "www",
            "type": "A",
            "address": balancer.attributes["address"],
        },
    )
    assert (record.attributes["type"], record.attributes["address"]) == (
        "CNAME",
        balancer.attributes["address"],
    )
    with pytest.raises(ProviderError, match="needs an address"):
        adapter.create(
            "dns_record",
            "canopy-42",
            {"zone": "shop.test", "record": "x", "type": "A", "address": ""},
        )


def test_a_public_ssh_key_becomes_the_servers_own_key_pair(account, moto):
    public_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    adapter = Ec2Adapter(account)
    server = adapter.ensure(
        "server", "canopy-50", {"size": "t3.micro", "image": IMAGE, "ssh_key": public_key}
    )
    ec2 = boto(moto, "ec2")
    [instance] = ec2.describe_instances(InstanceIds=[server.external_id])["Reservations"][0][
        "Instances"
    ]
    assert instance["KeyName"] == "canopy-50"
    adapter.delete("server", server.external_id)
    assert ec2.describe_key_pairs()["KeyPairs"] == []


class _Id:
    def __init__(self, id: str) -> None:
        self.id = id
