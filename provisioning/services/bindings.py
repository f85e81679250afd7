"""What a step asks its provider for: the template's properties bound to the objects its
dependencies created (a server's network, a volume's server, a load balancer's members, a DNS
record's target), a database's cloud-init, and the composites (databases, autoscaling groups)
that exist only through their servers."""

from __future__ import annotations

import ipaddress
from typing import Any

from provisioning.models import Resource, ResourceState, Step
from provisioning.providers import CloudObject
from provisioning.selectors import COMPOSITE_KINDS

R = ResourceState
A = Step.Action
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306}


def _dependencies(step: Step) -> list[Resource]:
    """The resources the step binds to, composites replaced by their live servers."""
    if not step.waits:
        return []
    resources = []
    for dependency in step.depends_on.select_related("resource"):
        resource = dependency.resource
        if resource.kind in COMPOSITE_KINDS:
            resources += list(resource.children.filter(kind="server", state=R.ACTIVE))
        else:
            resources.append(resource)
    return resources


def _first_ip(resource: Resource) -> str:
    return (resource.public_ips or resource.private_ips or [""])[0]


def _database_user_data(database: Resource) -> str:
    """cloud-init that installs the engine and creates the database and its user."""
    props, secret = database.properties, database.secret
    engine, db_name = props.get("engine", "postgresql"), props.get("db_name", "app")
    user, password = secret["user"], secret["password"]
    if engine == "mysql":
        commands = [
            "apt-get install -y mysql-server",
            f'mysql -e "CREATE DATABASE IF NOT EXISTS {db_name}; CREATE USER IF NOT EXISTS '
            f"'{user}'@'%' IDENTIFIED BY '{password}'; GRANT ALL ON {db_name}.* TO '{user}'@'%';\"",
        ]
    else:
        commands = [
            "apt-get install -y postgresql",
            f"sudo -u postgres psql -c \"CREATE USER {user} WITH PASSWORD '{password}'\"",
            f"sudo -u postgres createdb -O {user} {db_name}",
            "echo \"listen_addresses = '*'\" >> /etc/postgresql/*/main/postgresql.conf",
            "echo 'host all all 0.0.0.0/0 scram-sha-256' >> /etc/postgresql/*/main/pg_hba.conf",
            "systemctl restart postgresql",
        ]
    lines = ["#cloud-config", "package_update: true", "runcmd:"]
    return "\n".join(lines + [f"  - {command!r}" for command in commands]) + "\n"


def concrete(step: Step) -> dict[str, Any]:
    """The adapter's properties: the template's, with references bound to finished objects."""
    resource, props = step.resource, step.resource.properties
    deps = _dependencies(step)
    servers = [d for d in deps if d.kind == "server" and d.external_id]
    match resource.kind:
        case "server":
            networks = [d.external_id for d in deps if d.kind == "network"]
            concrete = {
                k: props[k] for k in ("size", "image", "location", "ssh_key") if props.get(k)
            }
            if networks:
                concrete["network_id"] = networks[0]
            if resource.parent and resource.parent.kind == "database":
                concrete["user_data"] = _database_user_data(resource.parent)
            elif props.get("user_data"):
                concrete["user_data"] = props["user_data"]
            if resource.parent and resource.parent.kind == "autoscaling_group":
                concrete["group"] = resource.parent.canopy_tag  # its servers' simulated load
            return concrete
        case "volume":
            return {"size_gb": props.get("size_gb"), "server_id": servers[0].external_id}
        case "network":
            return {"cidr": props.get("cidr", "10.0.0.0/16")}
        case "load_balancer":
            return {
                "protocol": props.get("protocol", "http"),
                "port": props.get("port", 80),
                "members": [{"id": s.external_id, "ip": _first_ip(s)} for s in servers],
            }
        case "dns_record":
            # A load balancer's address (often a host name), else the server's IP; the record's
            # type follows what it points at, whatever the template said.
            target = deps[0]
            address = target.attributes.get("address") or _first_ip(target)
            return {
                "zone": props.get("zone"),
                "record": props.get("record"),
                "type": dns_record_type(address),
                "address": address,
            }
    raise ValueError(resource.kind)


def dns_record_type(address: str | None) -> str:
    """A for an IP address, CNAME for a host name (a CNAME may not name an IP, nor A a host)."""
    try:
        ipaddress.ip_address(address or "")
    except ValueError:
        return "CNAME" if address else "A"
    return "A"


def composite_object(step: Step) -> CloudObject | None:
    """Databases and autoscaling groups exist through their servers: no provider call."""
    resource = step.resource
    if step.action == A.DESTROY:
        return None
    servers = list(resource.children.filter(kind="server", state=R.ACTIVE))
    attributes: dict[str, Any] = {"servers": [s.external_id for s in servers]}
    if resource.kind == "database" and servers:
        engine = resource.properties.get("engine", "postgresql")
        attributes |= {
            "host": (servers[0].private_ips or servers[0].public_ips or [""])[0],
            "public_host": (servers[0].public_ips or [""])[0],
            "port": DATABASE_PORTS.get(engine, 5432),
            "db_name": resource.properties.get("db_name", "app"),
            "user": resource.secret.get("user", ""),
        }
    return CloudObject(
        kind=resource.kind,
        external_id="",
        name=resource.canopy_tag,
        state="running",
        attributes=attributes,
    )


def balancer_members(balancer: Resource) -> list[dict[str, str]]:
    group = Resource.objects.get(
        order_id=balancer.order_id, key=balancer.properties.get("members"), parent=None
    )
    servers = group.children.filter(kind="server", state=R.ACTIVE).exclude(external_id="")
    return [{"id": s.external_id, "ip": _first_ip(s)} for s in servers]
