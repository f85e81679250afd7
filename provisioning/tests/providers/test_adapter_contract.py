"""One contract, every registered adapter. Those that can run here (the sandbox, and ec2
against moto) are driven through every behaviour; the others (openstack, gce, azure) are built
from a configured account and checked for what they declare, and a new adapter that registers
without an entry here fails `test_every_registered_adapter_is_under_contract`.

The provisioning saga relies on exactly these behaviours: ensure adopts what a previous attempt
created, find works by Canopy's name, delete tolerates what is already gone, list_tagged shows
exactly what exists, and volumes, load balancer members and DNS records are wired as asked.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from core.models import Organization
from provisioning.models import CloudAccount
from provisioning.providers import REGISTRY, get_adapter
from provisioning.providers.base import (
    ACTIONS,
    KINDS,
    LOCAL_OPTIONS,
    SIMULATED_LOAD,
    SIMULATED_METRICS,
    CloudObject,
    ProviderAdapter,
    ProviderError,
)
from tests.moto_server import boto

ZONE = "shop.test"


@dataclass
class Cloud:
    adapter: ProviderAdapter
    server: dict[str, Any]  # properties of a small server on this provider
    bigger_size: str

    def new_server(self, name: str) -> CloudObject:
        return self.adapter.ensure("server", name, self.server)

    def kinds_and_names(self) -> set[tuple[str, str]]:
        return {(o.kind, o.name) for o in self.adapter.list_tagged()}


def sandbox_cloud(request: pytest.FixtureRequest, organization: Organization) -> Cloud:
    account = CloudAccount.objects.create(
        name="contract-sandbox", organization=organization, provider="sandbox"
    )
    return Cloud(get_adapter(account), {"size": "small", "image": "ubuntu-24.04"}, "medium")


def ec2_cloud(request: pytest.FixtureRequest, organization: Organization) -> Cloud:
    url = request.getfixturevalue("moto")
    # The zone belongs to the customer: Canopy adds records to it, never creates it.
    boto(url, "route53").create_hosted_zone(Name=ZONE, CallerReference="contract")
    account = CloudAccount(
        name="contract-ec2",
        organization=organization,
        provider="ec2",
        region="us-east-1",
        endpoint_url=url,
        options={"images": ["ami-12c6146b"]},
    )
    account.credentials = {"access_key": "AKIDCONTRACT", "secret_key": "secret"}
    account.save()
    return Cloud(get_adapter(account), {"size": "t3.micro", "image": "ami-12c6146b"}, "t3.small")


# The adapters driven through the whole contract, by provider.
RUNNABLE = {"sandbox": sandbox_cloud, "ec2": ec2_cloud}


@pytest.fixture(params=sorted(RUNNABLE))
def cloud(request, db) -> Cloud:
    organization = Organization.objects.create(name="Contract org", slug="contract-org")
    return RUNNABLE[request.param](request, organization)


def test_ensure_adopts_what_exists(cloud):
    first = cloud.new_server("canopy-1")
    again = cloud.new_server("canopy-1")
    assert again.external_id == first.external_id
    assert cloud.kinds_and_names() == {("server", "canopy-1")}


def test_find_by_canopy_name(cloud):
    server = cloud.new_server("canopy-2")
    found = cloud.adapter.find("server", "canopy-2")
    assert (found.external_id, found.name) == (server.external_id, "canopy-2")
    assert cloud.adapter.find("server", "canopy-999") is None
    assert cloud.adapter.find("load_balancer", "canopy-999") is None
    assert cloud.adapter.find("dns_record", "canopy-999") is None


def test_server_day_two_actions(cloud):
    server = cloud.new_server("canopy-3")
    assert cloud.adapter.act("server", server.external_id, "stop", {}).state == "stopped"
    resized = cloud.adapter.act("server", server.external_id, "resize", {"size": cloud.bigger_size})
    assert resized.attributes["size"] == cloud.bigger_size
    assert cloud.adapter.act("server", server.external_id, "start", {}).state == "running"
    assert cloud.adapter.act("server", server.external_id, "reboot", {}).state == "running"


def test_delete_is_idempotent(cloud):
    server = cloud.new_server("canopy-4")
    cloud.adapter.delete("server", server.external_id)
    cloud.adapter.delete("server", server.external_id)
    assert cloud.adapter.find("server", "canopy-4") is None
    assert cloud.kinds_and_names() == set()


def test_volume_is_attached_then_detached_by_delete(cloud):
    server = cloud.new_server("canopy-5")
    volume = cloud.adapter.ensure(
        "volume", "canopy-6", {"size_gb": 4, "server_id": server.external_id}
    )
    assert (volume.attributes["size_gb"], volume.attributes["server_id"]) == (4, server.external_id)
    assert cloud.adapter.ensure("volume", "canopy-6", {}).external_id == volume.external_id
    extended = cloud.adapter.act("volume", volume.external_id, "extend", {"size_gb": 8})
    assert extended.attributes["size_gb"] == 8
    snapshotted = cloud.adapter.act("volume", volume.external_id, "snapshot", {})
    assert len(snapshotted.attributes["snapshots"]) == 1
    cloud.adapter.delete("volume", volume.external_id)  # still attached: detached first
    assert cloud.adapter.find("volume", "canopy-6") is None
    assert cloud.kinds_and_names() == {("server", "canopy-5")}


def test_load_balancer_members_and_dns_record(cloud):
    web = [cloud.new_server(f"canopy-{n}") for n in (7, 8)]
    members = [{"id": s.external_id, "ip": (s.attributes["private_ips"] or [""])[0]} for s in web]
    balancer = cloud.adapter.ensure(
        "load_balancer", "canopy-9", {"protocol": "http", "port": 80, "members": members[:1]}
    )
    assert [m["id"] for m in balancer.attributes["members"]] == [web[0].external_id]
    both = cloud.adapter.act(
        "load_balancer", balancer.external_id, "set_members", {"members": members}
    )
    assert {m["id"] for m in both.attributes["members"]} == {s.external_id for s in web}
    assert balancer.attributes["address"]

    record = cloud.adapter.ensure(
        "dns_record",
        "canopy-10",
        {"zone": ZONE, "record": "www", "type": "CNAME", "address": balancer.attributes["address"]},
    )
    assert record.attributes["address"] == balancer.attributes["address"]
    assert record.attributes["fqdn"] == f"www.{ZONE}"
    assert cloud.adapter.find("dns_record", "canopy-10").external_id == record.external_id

    none = cloud.adapter.act("load_balancer", balancer.external_id, "set_members", {"members": []})
    assert none.attributes["members"] == []


def test_list_tagged_shows_exactly_what_exists(cloud):
    network = cloud.adapter.ensure("network", "canopy-11", {"cidr": "10.11.0.0/16"})
    server = cloud.adapter.ensure(
        "server", "canopy-12", {**cloud.server, "network_id": network.external_id}
    )
    volume = cloud.adapter.ensure(
        "volume", "canopy-13", {"size_gb": 2, "server_id": server.external_id}
    )
    ip = (server.attributes["private_ips"] or [""])[0]
    balancer = cloud.adapter.ensure(
        "load_balancer",
        "canopy-14",
        {"protocol": "http", "port": 80, "members": [{"id": server.external_id, "ip": ip}]},
    )
    record = cloud.adapter.ensure(
        "dns_record", "canopy-15", {"zone": ZONE, "record": "shop", "type": "A", "address": ip}
    )
    created = [network, server, volume, balancer, record]
    assert cloud.kinds_and_names() == {(o.kind, o.name) for o in created}
    assert {o.external_id for o in cloud.adapter.list_tagged()} == {o.external_id for o in created}
    some = cloud.adapter.list_tagged(kinds=["volume", "dns_record"])
    assert {o.external_id for o in some} == {volume.external_id, record.external_id}

    for obj in reversed(created):  # the saga deletes in reverse order
        cloud.adapter.delete(obj.kind, obj.external_id)
    assert cloud.adapter.list_tagged() == []


# -- adapters that cannot run here: what they need, and that they are honest about it ----------

GOOD_CREDENTIALS = {
    "openstack": {"username": "ops", "password": "pw", "project_name": "web"},
    "gce": {
        "client_email": "sa@p.iam.gserviceaccount.com",
        "private_key": "PEM",
        "project_id": "p",
    },
    "azure": {"tenant_id": "t", "subscription_id": "s", "client_id": "c", "client_secret": "x"},
}


def unsaved_account(provider: str, credentials: dict, **fields: Any) -> CloudAccount:
    account = CloudAccount(name=provider, provider=provider, **fields)
    account.credentials = credentials
    return account


@pytest.mark.parametrize("provider", ["openstack", "gce", "azure"])
def test_missing_credentials_are_named(provider):
    credentials = dict(GOOD_CREDENTIALS[provider])
    missing = sorted(credentials)[0]
    del credentials[missing]
    with pytest.raises(ProviderError, match=f"lack {missing}"):
        get_adapter(unsaved_account(provider, credentials))


@pytest.mark.parametrize(
    ("provider", "fields", "message"),
    [
        ("openstack", {}, "Keystone URL"),
        ("azure", {"region": "westeurope"}, "resource_group"),
        ("azure", {"options": {"resource_group": "canopy"}}, "location"),
    ],
)
def test_required_settings_are_named(provider, fields, message):
    with pytest.raises(ProviderError, match=message):
        get_adapter(unsaved_account(provider, GOOD_CREDENTIALS[provider], **fields))


# How each adapter that cannot run here is configured (building it calls nothing).
CONFIGURED = {
    "openstack": {"endpoint_url": "https://keystone.example:5000"},
    "gce": {"region": "europe-west1-b"},
    "azure": {"region": "westeurope", "options": {"resource_group": "canopy"}},
}


def test_every_registered_adapter_is_under_contract():
    assert set(REGISTRY) == set(RUNNABLE) | set(CONFIGURED)
    assert set(REGISTRY) == set(CloudAccount.Provider.values)  # every provider has its adapter


@pytest.mark.parametrize("provider", sorted(REGISTRY))
def test_every_adapter_declares_what_canopy_knows(provider):
    """Capabilities name provider-level kinds and actions only, servers are created and deleted
    everywhere, and features are the ones Canopy knows."""
    adapter_class = REGISTRY[provider]
    assert adapter_class.capabilities and set(adapter_class.capabilities) <= set(KINDS)
    for actions in adapter_class.capabilities.values():
        assert actions <= set(ACTIONS)
    assert {"create", "delete"} <= adapter_class.capabilities["server"]
    assert adapter_class.features <= {LOCAL_OPTIONS, SIMULATED_LOAD, SIMULATED_METRICS}
    assert not adapter_class.__abstractmethods__  # implements the whole interface


@pytest.mark.parametrize(("provider", "fields"), sorted(CONFIGURED.items()))
def test_configured_adapters_declare_servers_only(provider, fields):
    # Building the adapter calls nothing: GCE and Azure authenticate when the driver is built.
    adapter = get_adapter(unsaved_account(provider, GOOD_CREDENTIALS[provider], **fields))
    assert adapter.capabilities == {
        "server": frozenset({"create", "delete", "start", "stop", "reboot"})
    }
    with pytest.raises(ProviderError, match="cannot create a volume"):
        adapter.create("volume", "canopy-1", {"size_gb": 1, "server_id": "x"})


def test_openstack_unreachable_keystone_is_transient_and_says_so():
    account = unsaved_account(
        "openstack", GOOD_CREDENTIALS["openstack"], endpoint_url="http://127.0.0.1:9"
    )
    with pytest.raises(ProviderError, match=r"Cannot reach http://127.0.0.1:9") as caught:
        get_adapter(account).test_connection()
    assert caught.value.transient


def test_azure_image_must_be_a_urn():
    account = unsaved_account(
        "azure",
        GOOD_CREDENTIALS["azure"],
        region="westeurope",
        options={"resource_group": "canopy"},
    )
    # Checked before anything is called: no driver is built, nothing reaches Azure.
    with pytest.raises(ProviderError, match="not a URN"):
        get_adapter(account).create(
            "server", "canopy-1", {"size": "Standard_B1s", "image": "ubuntu-24.04"}
        )
