"""Amazon EC2 (or an EC2-compatible cloud at `endpoint_url`) through libcloud: servers, volumes and
networks with the EC2 compute driver and its `ex_` methods, load balancers with ELB, DNS records
with Route53.

Every object carries Canopy's name as tags `Name` and `canopy-id`; a network is a VPC with one
subnet and one security group, all three tagged alike. ELB names are Canopy's name (ELB tags are
added too). Route53 records cannot be tagged, so each record Canopy creates gets an ownership
TXT record named after it (`canopy-42.<zone>` → `"canopy-record=A:www"`), the way external-dns
marks the records it owns; `find` and `list_tagged` read those markers.

Account options: `images` (AMI ids offered in forms; default: the account's own AMIs) and
`sizes` (instance types offered; default: `DEFAULT_SIZES`).
"""

import ipaddress
import uuid
from collections.abc import Collection
from functools import cached_property
from typing import Any

from libcloud.compute.base import Node, NodeImage, NodeSize, StorageVolume
from libcloud.compute.drivers.ec2 import EC2NodeDriver
from libcloud.dns.base import Record, Zone
from libcloud.dns.drivers.route53 import Route53DNSDriver
from libcloud.dns.types import RecordType
from libcloud.loadbalancer.base import Algorithm, LoadBalancer, Member
from libcloud.loadbalancer.drivers.elb import ElasticLBDriver

from provisioning.providers.base import (
    KINDS,
    TAG_PREFIX,
    CloudObject,
    Option,
    ProviderError,
    SizeInfo,
    register,
)
from provisioning.providers.libcloud_common import (
    ById,
    LibcloudAdapter,
    endpoint_parts,
    is_not_found,
    size_info,
)

TAG = "canopy-id"
# Server snapshots (AMIs) carry the name of the server they were taken of.
SNAPSHOT_TAG = "canopy-snapshot-of"
DEFAULT_SIZES = ("t3.micro", "t3.small", "t3.medium", "t3.large", "m5.large", "m5.xlarge")
LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]
LIVE_VOLUME_STATES = ["creating", "available", "in-use"]
# Devices offered to attached volumes, in order (/dev/sda1 is the root disk).
VOLUME_DEVICES = [f"/dev/sd{letter}" for letter in "fghijklmnop"]
ELB_ROOT = "/2012-06-01/"
MARKER = "canopy-record="


def _tags(name: str) -> dict[str, str]:
    return {"Name": name, TAG: name}


def _record_name(properties: dict[str, Any]) -> str:
    return "" if properties["record"] in ("", "@") else properties["record"]


def _record_type(properties: dict[str, Any]) -> str:
    """An A record naming a host (an ELB has a DNS name, no fixed IP) is written as a CNAME."""
    if not properties.get("address"):
        raise ProviderError("InvalidInput: a DNS record needs an address")
    try:
        ipaddress.ip_address(properties["address"])
    except ValueError:
        return RecordType.CNAME
    return properties["type"]


def _tagged(name: str) -> dict[str, Any]:
    return {f"tag:{TAG}": name}


@register("ec2")
class Ec2Adapter(LibcloudAdapter):
    credential_keys = ("access_key", "secret_key")
    capabilities = {
        "server": frozenset({"create", "delete", "start", "stop", "reboot", "resize", "snapshot"}),
        "volume": frozenset({"create", "delete", "snapshot", "extend"}),
        "network": frozenset({"create", "delete"}),
        "load_balancer": frozenset({"create", "delete", "set_members"}),
        "dns_record": frozenset({"create", "delete"}),
    }

    @property
    def region(self) -> str:
        return self.account.region or "us-east-1"

    @property
    def endpoint(self) -> str:
        return self.account.endpoint_url or f"AWS {self.region}"

    def build_compute(self) -> EC2NodeDriver:
        # SigV4: AWS accepts it everywhere, and SigV2 is routed wrongly by EC2 look-alikes.
        endpoint = endpoint_parts(self.account.endpoint_url) if self.account.endpoint_url else {}
        return EC2NodeDriver(
            self.credentials["access_key"],
            self.credentials["secret_key"],
            region=self.region,
            signature_version="4",
            **endpoint,
        )

    @cached_property
    def elb(self) -> ElasticLBDriver:
        return self._at_endpoint(
            ElasticLBDriver(
                self.credentials["access_key"], self.credentials["secret_key"], region=self.region
            )
        )

    @cached_property
    def dns(self) -> Route53DNSDriver:
        return self._at_endpoint(
            Route53DNSDriver(self.credentials["access_key"], self.credentials["secret_key"])
        )

    def _at_endpoint(self, driver: Any) -> Any:
        # The ELB and Route53 drivers take no host argument: repoint their connection.
        if self.account.endpoint_url:
            connection = driver.connection
            for key, value in endpoint_parts(self.account.endpoint_url).items():
                setattr(connection, key, value)
            connection.connect()
        return driver

    # -- catalog options ---------------------------------------------------------------------

    def test_connection(self) -> None:
        with self.calling():
            self.compute.ex_list_availability_zones()

    def list_locations(self) -> list[Option]:
        with self.calling():
            zones = self.compute.ex_list_availability_zones()
        return [Option(zone.name, zone.name) for zone in zones]

    def list_sizes(self) -> list[SizeInfo]:
        wanted = self.account.options.get("sizes") or DEFAULT_SIZES
        sizes = {size.id: size for size in self.compute.list_sizes()}  # local price list
        return [size_info(sizes[s]) for s in wanted if s in sizes]

    def images(self) -> list[NodeImage]:
        """The curated AMIs (else the account's own) and the servers' snapshots."""
        wanted = self.account.options.get("images")
        if not wanted:
            return self.compute.list_images(ex_owner="self")
        snapshots = self.compute.list_images(ex_owner="self", ex_filters={"tag-key": SNAPSHOT_TAG})
        return self.compute.list_images(ex_image_ids=wanted) + snapshots

    # -- the interface -------------------------------------------------------------------------

    def find(self, kind: str, name: str) -> CloudObject | None:
        self._check(kind, "create")
        with self.calling():
            return getattr(self, f"_find_{kind}")(name)

    def create(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        self._check(kind, "create")
        with self.calling():
            return getattr(self, f"_create_{kind}")(name, properties)

    def ensure(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        """Find or create, then finish what an interrupted attempt left half done (a volume not
        yet attached, a network without its subnet, a load balancer without its members)."""
        found = self.find(kind, name)
        if found is None:
            return self.create(kind, name, properties)
        with self.calling():
            return self._complete(kind, found, name, properties)

    def _destroy(self, kind: str, external_id: str) -> None:
        getattr(self, f"_delete_{kind}")(external_id)

    def act(self, kind: str, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        self._check(kind, action)
        with self.calling():
            if kind == "server":
                return self._act_server(external_id, action, params)
            if kind == "volume":
                return self._act_volume(external_id, action, params)
            return self._reset_members(external_id, params["members"])

    def list_tagged(self, kinds: Collection[str] = KINDS) -> list[CloudObject]:
        having_tag = {"tag-key": TAG}
        objects: list[CloudObject] = []
        with self.calling():  # one listing per kind asked for
            if "server" in kinds:
                nodes = self.compute.list_nodes(
                    ex_filters={**having_tag, "instance-state-name": LIVE_INSTANCE_STATES}
                )
                objects += [self._server_object(n) for n in nodes]
            if "volume" in kinds:
                volumes = self.compute.list_volumes(
                    ex_filters={**having_tag, "status": LIVE_VOLUME_STATES}
                )
                objects += [self._volume_object(v) for v in volumes]
            if "network" in kinds:
                vpcs = self.compute.ex_list_networks(filters=having_tag)
                objects += [self._network_object(n) for n in vpcs]
            if "load_balancer" in kinds:
                balancers = self.elb.list_balancers()
                objects += [
                    self._balancer_object(b) for b in balancers if b.name.startswith(TAG_PREFIX)
                ]
            if "dns_record" in kinds:
                objects += [
                    self._record_object(marker, record)
                    for zone in self.dns.list_zones()
                    for marker, record in self._markers(zone)
                ]
        return [o for o in objects if o.name.startswith(TAG_PREFIX)]

    def list_servers(self) -> list[CloudObject]:
        with self.calling():
            nodes = self.compute.list_nodes(
                ex_filters={"instance-state-name": LIVE_INSTANCE_STATES}
            )
        servers = []
        for node in nodes:
            obj = self._server_object(node)
            tags = dict(node.extra.get("tags") or {})
            obj.attributes.update(tags=tags, launched_at=node.extra.get("launch_time") or "")
            name = obj.name or tags.get("Name") or obj.external_id
            servers.append(CloudObject("server", obj.external_id, name, obj.state, obj.attributes))
        return servers

    def _complete(
        self, kind: str, found: CloudObject, name: str, properties: dict[str, Any]
    ) -> CloudObject:
        if kind == "volume" and not found.attributes["server_id"]:
            volume = self._volume(found.external_id)
            return self._attach(volume, properties["server_id"])
        if kind == "network" and not (
            found.attributes["subnet_id"] and found.attributes["security_group_id"]
        ):
            vpc = self.compute.ex_list_networks(network_ids=[found.external_id])[0]
            return self._finish_network(vpc, name, properties)
        if kind == "dns_record" and found.state == "missing":
            zone = self._zone(properties["zone"])
            marker = next(m for m, _ in self._markers(zone) if m.name == name)
            return self._record_object(marker, self._create_record(zone, properties))
        if kind == "load_balancer":
            return self._reset_members(found.external_id, properties["members"])
        return found

    # -- servers -------------------------------------------------------------------------------

    def _server_object(self, node: Node) -> CloudObject:
        obj = self.server_object(node)
        tags = node.extra.get("tags", {})
        obj.attributes.update(
            location=node.extra.get("availability", ""), image=node.extra.get("image_id", "")
        )
        return CloudObject("server", obj.external_id, tags.get(TAG, ""), obj.state, obj.attributes)

    def _node(self, external_id: str) -> Node:
        return self.compute.list_nodes(ex_node_ids=[external_id])[0]

    def _find_server(self, name: str) -> CloudObject | None:
        nodes = self.compute.list_nodes(
            ex_filters={**_tagged(name), "instance-state-name": LIVE_INSTANCE_STATES}
        )
        return self._server_object(nodes[0]) if nodes else None

    def _create_server(self, name: str, properties: dict[str, Any]) -> CloudObject:
        size = properties["size"]
        image = properties["image"]
        kwargs: dict[str, Any] = {"ex_metadata": _tags(name)}
        if properties.get("user_data"):
            kwargs["ex_userdata"] = properties["user_data"]
        if properties.get("ssh_key"):
            kwargs["ex_keyname"] = self.key_pair(name, properties["ssh_key"])
        if properties.get("network_id"):
            subnet, group = self._network_parts(properties["network_id"])
            kwargs.update(ex_subnet=subnet, ex_security_group_ids=[group])
        elif properties.get("location"):
            kwargs["location"] = self._location(properties["location"])
        node = self.compute.create_node(
            name=name,
            size=NodeSize(size, size, 0, 0, None, None, self.compute),
            image=NodeImage(image, image, self.compute),
            **kwargs,
        )
        return self._server_object(node)

    def _delete_server(self, external_id: str) -> None:
        node = self._node(external_id)
        self.compute.destroy_node(node)
        name = node.extra.get("tags", {}).get(TAG)
        if name and node.extra.get("key_name") == name:
            self.drop_key_pair(name)

    def _act_server(self, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        node = self._node(external_id)
        self._power(node, action)
        if action == "resize":  # EC2 answers IncorrectInstanceState unless it is stopped
            new_size = params["size"]
            self.compute.ex_change_node_size(
                node, NodeSize(new_size, new_size, 0, 0, None, None, self.compute)
            )
        obj = self._server_object(self._node(external_id))
        if action == "snapshot":  # an AMI of the server, which outlives it
            of = obj.name or external_id  # an adopted server keeps its own name
            taken = self.compute.create_image(node, f"{of} snapshot {uuid.uuid4().hex[:8]}")
            self.compute.ex_create_tags(taken, {SNAPSHOT_TAG: of})
            snapshots = self.compute.list_images(
                ex_owner="self", ex_filters={f"tag:{SNAPSHOT_TAG}": of}
            )
            obj.attributes["snapshots"] = sorted(image.id for image in snapshots)
        return obj

    def _location(self, zone_name: str) -> Any:
        for location in self.compute.list_locations():
            if location.availability_zone.name == zone_name:
                return location
        raise ProviderError(f"InvalidParameterValue: no availability zone {zone_name!r}")

    # -- volumes -------------------------------------------------------------------------------

    def _volume_object(self, volume: StorageVolume) -> CloudObject:
        return CloudObject(
            kind="volume",
            external_id=volume.id,
            name=volume.extra.get("tags", {}).get(TAG, ""),
            state=str(volume.state),
            attributes={
                "size_gb": volume.size,
                "server_id": volume.extra.get("instance_id") or "",
                "device": volume.extra.get("device") or "",
                "location": volume.extra.get("zone", ""),
            },
        )

    def _volume(self, external_id: str) -> StorageVolume:
        volumes = self.compute.list_volumes(ex_filters={"volume-id": external_id})
        if not volumes:
            raise ProviderError(f"InvalidVolume.NotFound: volume {external_id} does not exist")
        return volumes[0]

    def _find_volume(self, name: str) -> CloudObject | None:
        volumes = self.compute.list_volumes(
            ex_filters={**_tagged(name), "status": LIVE_VOLUME_STATES}
        )
        return self._volume_object(volumes[0]) if volumes else None

    def _create_volume(self, name: str, properties: dict[str, Any]) -> CloudObject:
        # A volume lives in its server's availability zone.
        node = self._node(properties["server_id"])
        zone = properties.get("location") or node.extra["availability"]
        volume = self.compute.create_volume(
            size=int(properties["size_gb"]), name=name, location=self._location(zone)
        )
        self.compute.ex_create_tags(volume, _tags(name))
        return self._attach(volume, node.id)

    def _attach(self, volume: StorageVolume, server_id: str) -> CloudObject:
        node = self._node(server_id)
        used = {m["device_name"] for m in node.extra.get("block_device_mapping", [])}
        device = next((d for d in VOLUME_DEVICES if d not in used), None)
        if device is None:
            raise ProviderError(f"Server {server_id} has no free device for another volume")
        self.compute.attach_volume(node, volume, device=device)
        return self._volume_object(self._volume(volume.id))

    def _delete_volume(self, external_id: str) -> None:
        volume = self._volume(external_id)
        if volume.extra.get("instance_id"):
            # Detaching takes a moment on AWS: deleting now answers VolumeInUse (transient).
            self.compute.detach_volume(volume)
        self.compute.destroy_volume(volume)

    def _act_volume(self, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        volume = self._volume(external_id)
        if action == "extend":
            self.compute.ex_modify_volume(volume, {"Size": int(params["size_gb"])})
            return self._volume_object(self._volume(external_id))
        # A snapshot outlives its volume (that is its point), so it is not tagged canopy-id.
        name = volume.extra.get("tags", {}).get(TAG, external_id)
        self.compute.create_volume_snapshot(volume, name=f"{name} snapshot")
        obj = self._volume_object(volume)
        obj.attributes["snapshots"] = [s.id for s in self.compute.list_volume_snapshots(volume)]
        return obj

    # -- networks: a VPC, its subnet and its security group ----------------------------------

    def _network_object(self, vpc: Any, subnet: Any = None, group_id: str = "") -> CloudObject:
        return CloudObject(
            kind="network",
            external_id=vpc.id,
            name=vpc.extra.get("tags", {}).get(TAG, ""),
            state=vpc.extra.get("state", ""),
            attributes={
                "cidr": vpc.cidr_block,
                "subnet_id": subnet.id if subnet else "",
                "security_group_id": group_id,
                "location": subnet.extra.get("zone", "") if subnet else "",
            },
        )

    def _find_network(self, name: str) -> CloudObject | None:
        vpcs = self.compute.ex_list_networks(filters=_tagged(name))
        if not vpcs:
            return None
        subnets = self.compute.ex_list_subnets(filters={"vpc-id": vpcs[0].id, **_tagged(name)})
        groups = self._groups(vpcs[0].id)
        return self._network_object(
            vpcs[0], subnets[0] if subnets else None, groups[0].id if groups else ""
        )

    def _groups(self, vpc_id: str) -> list[Any]:
        filters = {"vpc-id": vpc_id, "tag-key": TAG}
        return self.compute.ex_get_security_groups(filters=filters)

    def _create_network(self, name: str, properties: dict[str, Any]) -> CloudObject:
        vpc = self.compute.ex_create_network(properties["cidr"], name=name)
        self.compute.ex_create_tags(vpc, _tags(name))
        vpc.extra["tags"] = _tags(name)
        return self._finish_network(vpc, name, properties)

    def _finish_network(self, vpc: Any, name: str, properties: dict[str, Any]) -> CloudObject:
        """Add the subnet and security group the VPC lacks (all of them on a first attempt)."""
        subnets = self.compute.ex_list_subnets(filters={"vpc-id": vpc.id, "tag-key": TAG})
        if subnets:
            subnet = subnets[0]
        else:
            zone = properties.get("location") or self.list_locations()[0].id
            subnet = self.compute.ex_create_subnet(vpc.id, properties["cidr"], zone, name=name)
            self.compute.ex_create_tags(subnet, _tags(name))
        groups = self._groups(vpc.id)
        if groups:
            return self._network_object(vpc, subnet, groups[0].id)
        group_id = self.compute.ex_create_security_group(name, f"Canopy {name}", vpc_id=vpc.id)[
            "group_id"
        ]
        self.compute.ex_create_tags(ById(group_id), _tags(name))
        # The deployment's servers talk to each other; the world reaches SSH and HTTP(S).
        self.compute.ex_authorize_security_group_ingress(
            group_id, 0, 65535, [properties["cidr"]], protocol="-1"
        )
        for port in (22, 80, 443):
            self.compute.ex_authorize_security_group_ingress(group_id, port, port, ["0.0.0.0/0"])
        return self._network_object(vpc, subnet, group_id)

    def _network_parts(self, vpc_id: str) -> tuple[Any, str]:
        subnets = self.compute.ex_list_subnets(filters={"vpc-id": vpc_id, "tag-key": TAG})
        groups = self._groups(vpc_id)
        if not subnets or not groups:
            raise ProviderError(f"Network {vpc_id} has no Canopy subnet or security group")
        return subnets[0], groups[0].id

    def _delete_network(self, external_id: str) -> None:
        # Servers in it must be gone first (DependencyViolation, transient, until they are).
        for group in self._groups(external_id):
            self.compute.ex_delete_security_group_by_id(group.id)
        for subnet in self.compute.ex_list_subnets(filters={"vpc-id": external_id}):
            self.compute.ex_delete_subnet(subnet)
        self.compute.ex_delete_network(ById(external_id))

    # -- load balancers (classic ELB, named like the resource) -------------------------------

    def _balancer_object(self, balancer: LoadBalancer) -> CloudObject:
        member_ids = sorted(m.id for m in self.elb.balancer_list_members(balancer))
        return CloudObject(
            kind="load_balancer",
            external_id=balancer.id,
            name=balancer.name,
            state="available",
            attributes={
                "address": balancer.ip or "",
                "fqdn": balancer.ip or "",
                "members": [
                    {"id": node.id, "ip": (node.private_ips or [""])[0]}
                    for node in self._nodes(member_ids)
                ],
            },
        )

    def _find_load_balancer(self, name: str) -> CloudObject | None:
        try:
            with self.calling():
                return self._balancer_object(self.elb.get_balancer(name))
        except ProviderError as error:
            if is_not_found(error):
                return None
            raise

    def _create_load_balancer(self, name: str, properties: dict[str, Any]) -> CloudObject:
        member_ids = [m["id"] for m in properties["members"]]
        zones = {n.extra["availability"] for n in self._nodes(member_ids)} or {f"{self.region}a"}
        balancer = self.elb.create_balancer(
            name,
            int(properties["port"]),
            properties["protocol"],
            Algorithm.ROUND_ROBIN,
            [],
            ex_members_availability_zones=sorted(z.removeprefix(self.region) for z in zones),
        )
        params = {"Action": "AddTags", "LoadBalancerNames.member.1": name}
        for index, (key, value) in enumerate(_tags(name).items(), start=1):
            params.update({f"Tags.member.{index}.Key": key, f"Tags.member.{index}.Value": value})
        self.elb.connection.request(ELB_ROOT, params=params)
        self._set_members(balancer, properties["members"])
        # CreateLoadBalancer's answer is parsed without its DNS name: read it back.
        return self._balancer_object(self.elb.get_balancer(name))

    def _nodes(self, ids: list[str]) -> list[Node]:
        return self.compute.list_nodes(ex_node_ids=ids) if ids else []

    def _set_members(self, balancer: LoadBalancer, members: list[dict[str, str]]) -> None:
        wanted = {m["id"] for m in members}
        current = {m.id for m in self.elb.balancer_list_members(balancer)}
        for node in self._nodes(sorted(wanted - current)):
            self.elb.balancer_attach_compute_node(balancer, node)
        for member_id in sorted(current - wanted):
            self.elb.balancer_detach_member(balancer, Member(member_id, None, None))

    def _reset_members(self, external_id: str, members: list[dict[str, str]]) -> CloudObject:
        self._set_members(self.elb.get_balancer(external_id), members)
        return self._balancer_object(self.elb.get_balancer(external_id))

    def _delete_load_balancer(self, external_id: str) -> None:
        self.elb.destroy_balancer(self.elb.get_balancer(external_id))

    # -- DNS records, owned through a TXT marker ---------------------------------------------

    def _zone(self, domain: str) -> Zone:
        wanted = domain.rstrip(".") + "."
        for zone in self.dns.list_zones():
            if zone.domain == wanted:
                return zone
        raise ProviderError(f"NoSuchHostedZone: no Route53 zone {domain!r} in this account")

    def _markers(self, zone: Zone) -> list[tuple[Record, Record | None]]:
        records = self.dns.list_records(zone)
        by_id = {record.id: record for record in records}
        return [
            (record, by_id.get(record.data.strip('"').removeprefix(MARKER)))
            for record in records
            if record.type == RecordType.TXT
            and record.name.startswith(TAG_PREFIX)
            and record.data.strip('"').startswith(MARKER)
        ]

    def _record_object(self, marker: Record, record: Record | None) -> CloudObject:
        zone = marker.zone
        target_id = marker.data.strip('"').removeprefix(MARKER)
        record_type, _, record_name = target_id.partition(":")
        fqdn = f"{record_name}.{zone.domain}" if record_name else zone.domain
        return CloudObject(
            kind="dns_record",
            external_id=f"{zone.id}/{target_id}",
            name=marker.name,
            state="available" if record else "missing",
            attributes={
                "zone": zone.domain.rstrip("."),
                "record": record_name,
                "type": record_type,
                "fqdn": fqdn.rstrip("."),
                "address": record.data if record else "",
            },
        )

    def _find_dns_record(self, name: str) -> CloudObject | None:
        for zone in self.dns.list_zones():
            for marker, record in self._markers(zone):
                if marker.name == name:
                    return self._record_object(marker, record)
        return None

    def _create_dns_record(self, name: str, properties: dict[str, Any]) -> CloudObject:
        # The ownership marker goes first: after a crash in between, `find` sees the marker
        # without its record and `ensure` completes it, instead of a record nobody owns.
        zone = self._zone(properties["zone"])
        marker = self.dns.create_record(
            name,
            zone,
            RecordType.TXT,
            f'"{MARKER}{_record_type(properties)}:{_record_name(properties)}"',
            extra={"ttl": 300},
        )
        return self._record_object(marker, self._create_record(zone, properties))

    def _create_record(self, zone: Zone, properties: dict[str, Any]) -> Record:
        return self.dns.create_record(
            _record_name(properties),
            zone,
            _record_type(properties),
            properties["address"],
            extra={"ttl": 300},
        )

    def _delete_dns_record(self, external_id: str) -> None:
        zone_id, _, record_id = external_id.partition("/")
        zone = self.dns.get_zone(zone_id)
        for marker, record in self._markers(zone):
            if marker.data.strip('"') == f"{MARKER}{record_id}":
                if record is not None:
                    self.dns.delete_record(record)
                self.dns.delete_record(marker)
