"""Pinned plans, the saga's input, in the shapes of the default catalog's items: what catalog
pins at submit (`catalog.templating.resolve` of an item's template with the order's parameters).
Provisioning deploys plans, never items, so its tests (and the tests above it that need a
deployed order without ordering) write them out; `catalog/tests/selectors/test_default_plans.py`
checks that they are what catalog resolves."""

from collections.abc import Sequence
from typing import Any

# What a server is ordered with on the sandbox and, at moto, on EC2.
SANDBOX_SERVER = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}
IMAGE = "ami-12c6146b"  # ships with moto
EC2_SERVER = {"size": "t3.micro", "image": IMAGE, "location": "us-east-1a"}


def spec(
    key: str,
    kind: str,
    name: str,
    *,
    count: int = 1,
    depends_on: Sequence[str] = (),
    **properties: Any,
) -> dict:
    """One resolved resource spec of a pinned plan."""
    return {
        "key": key,
        "kind": kind,
        "name": name,
        "count": count,
        "depends_on": list(depends_on),
        "properties": properties,
    }


def server_plan(name: str = "vm1", **server: Any) -> list[dict]:
    """linux-vm's plan: one server (sandbox properties unless given)."""
    return [spec("vm", "server", name, **{**SANDBOX_SERVER, "ssh_key": None, **server})]


def web_tier_plan(
    name: str = "shop",
    instances: int = 2,
    *,
    volume_gb: int = 10,
    zone: str = "apps.example.com",
    **server: Any,
) -> list[dict]:
    """web-tier's plan: a network, `instances` servers with a data volume each, a load balancer
    over them and a DNS record naming it (sandbox servers unless `server` says otherwise)."""
    server = {**SANDBOX_SERVER, **server}
    return [
        spec("net", "network", f"{name}-net", cidr="10.20.0.0/24", location=server["location"]),
        spec(
            "web", "server", f"{name}-web", count=instances, depends_on=["net"],
            **server, network="net", user_data="#cloud-config\npackages: [nginx]\n",
        ),
        spec(
            "data", "volume", f"{name}-data", count=instances, depends_on=["web"],
            size_gb=volume_gb, attach_to="web",
        ),
        spec(
            "lb", "load_balancer", f"{name}-lb", depends_on=["web"],
            protocol="http", port=80, members="web",
        ),
        spec(
            "dns", "dns_record", f"{name}.{zone}", depends_on=["lb"],
            zone=zone, record=name, target="lb",
        ),
    ]  # fmt: skip


def autoscaling_web_tier_plan(
    name: str = "shop",
    instances: int = 2,
    *,
    max_instances: int = 6,
    zone: str = "apps.example.com",
    **server: Any,
) -> list[dict]:
    """autoscaling-web-tier's plan: a network, a group of `instances` servers (1 to
    `max_instances`), a load balancer over the group and a DNS record naming it."""
    server = {**SANDBOX_SERVER, **server}
    return [
        spec("net", "network", f"{name}-net", cidr="10.30.0.0/24", location=server["location"]),
        spec(
            "group", "autoscaling_group", f"{name}-web", depends_on=["net"],
            **server, network="net", min=1, max=max_instances, desired=instances,
        ),
        spec(
            "lb", "load_balancer", f"{name}-lb", depends_on=["group"],
            protocol="http", port=80, members="group",
        ),
        spec(
            "dns", "dns_record", f"{name}.{zone}", depends_on=["lb"],
            zone=zone, record=name, target="lb",
        ),
    ]  # fmt: skip


def fleet_plan(count: int, name: str = "fleet") -> list[dict]:
    """`count` identical servers, none waiting for another (the shape `make bench` provisions)."""
    return [spec("web", "server", name, count=count, size="small", image="ubuntu-24.04")]


def database_plan(name: str = "orders") -> list[dict]:
    """The demo's "postgresql-db": a database on its own server, its data on a 20 GB volume."""
    return [
        spec(
            "db", "database", name, **SANDBOX_SERVER,
            engine="postgresql", db_name=name, storage_gb=20,
        )
    ]  # fmt: skip
