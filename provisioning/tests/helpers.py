"""Provisioning's test helpers, shared by its tests and those of the apps above it.

Orders with a pinned plan in the shapes of the default catalog's items (resolved as catalog
resolves them: provisioning deploys the plan, never the item), their saga played in the test
process, a resource's metrics over a fixed window, and an EC2 account at moto with what
CloudWatch would report of its instances.
"""

import contextlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.db.models import QuerySet

from core.models import Organization
from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import CloudAccount, Resource, Step
from provisioning.providers.base import MetricPoint
from provisioning.selectors import resource_metrics
from provisioning.services.saga import TransientProviderError, deployment_start, step_execute
from provisioning.tests.factories import OrderFactory
from tests.moto_server import boto

if TYPE_CHECKING:  # orders live in catalog, above this app: only built by name
    from catalog.models import Order

# What a server is ordered with on the sandbox and, at moto, on EC2.
SANDBOX_SERVER = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}
IMAGE = "ami-12c6146b"  # ships with moto
EC2_SERVER = {"size": "t3.micro", "image": IMAGE, "location": "us-east-1a"}
KEY, SECRET = "AKIDCANOPYTEST", "canopy-secret"
# The instances' datapoint period an EC2 account declares (detailed monitoring), in seconds.
INTERVAL = 60
CLOUDWATCH = {"metrics": {"source": "cloudwatch", "interval": INTERVAL}}


# --- plans: the default catalog's items, resolved ----------------------------------------------
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


# --- the saga, played in the test process --------------------------------------------------------
def planned_order(resources: list[dict], **fields: Any) -> "Order":
    """An approved order pinning `resources` as its plan (admission is the approvals app's
    concern); `fields` go to `OrderFactory` (cloud_account, …). Without a project, the requester
    (given or new) is a member of the order's own, in the account's organization when given."""
    if "project" not in fields:
        fields["requester"] = fields.get("requester") or UserFactory()
        account = fields.get("cloud_account")
        organization = {"organization": account.organization} if account else {}
        fields["project"] = ProjectFactory(members=[fields["requester"]], **organization)
    order = OrderFactory(status="approved", **fields)
    order.pin_plan(resources=resources)
    order.save()
    return order


def queued() -> list[Step]:
    return list(Step.objects.filter(state="pending").exclude(queued_at=None).order_by("id"))


def run_queued(max_rounds: int = 200) -> list[list[Step]]:
    """Play the worker: run every queued step, round after round; returns the rounds."""
    rounds = []
    for _ in range(max_rounds):
        ready = queued() + list(Step.objects.filter(state="running"))
        if not ready:
            return rounds
        rounds.append(ready)
        for step in ready:
            with contextlib.suppress(TransientProviderError):  # Celery would retry; so do we
                step_execute(step_id=step.pk)
    pytest.fail("the saga did not settle")


def deployed(order: "Order") -> "Order":
    """The approved order's resources created: its deployment started and every step run."""
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed", order.status_message
    return order


def provisioned_server(name: str = "vm1", *, server: dict | None = None, **fields: Any) -> Resource:
    """linux-vm's server created by its saga, with sandbox properties unless `server` gives
    others (`fields`: the order's, as for `planned_order`)."""
    order = deployed(planned_order(server_plan(name, **(server or {})), **fields))
    return order.resources.get(kind="server")


def web_tier_servers(**fields: Any) -> QuerySet[Resource]:
    """The two servers of a web tier deployed on the sandbox, in creation order."""
    order = deployed(planned_order(web_tier_plan(), **fields))
    return order.resources.filter(kind="server").order_by("id")


def autoscaling_group(**fields: Any) -> Resource:
    """The group (two servers) of an autoscaling web tier deployed on the sandbox."""
    order = deployed(planned_order(autoscaling_web_tier_plan(), **fields))
    return order.resources.get(kind="autoscaling_group")


# --- metrics -------------------------------------------------------------------------------------
# The end of the windows the sandbox's simulated series are read over (they are deterministic).
UNTIL = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def series(
    resource: Resource, *, hours: float = 1, step: timedelta = timedelta(minutes=5)
) -> list[MetricPoint]:
    """The resource's metrics over the `hours` before UNTIL, as read now."""
    resource.refresh_from_db()
    resource.cloud_account.refresh_from_db()  # the load knob lives on the account's options
    since = UNTIL - hours * timedelta(hours=1)
    return resource_metrics(resource=resource, since=since, until=UNTIL, step=step)


def cpu(points: list[MetricPoint]) -> list[float]:
    return [p.cpu_percent for p in points]


def prometheus_settings(url: str) -> dict:
    """An account's metrics read from the Prometheus at `url`."""
    # Scrapes come every second here: a 5-second rate already spans several.
    return {"source": "prometheus", "url": url, "rate_window": 5}


# --- EC2 at moto ---------------------------------------------------------------------------------
def ec2_account(organization: Organization, url: str, **options: Any) -> CloudAccount:
    """An EC2 account of the organization at moto, offering moto's image (`options` added)."""
    account = CloudAccount(
        name=f"moto-{organization.slug}",
        organization=organization,
        provider="ec2",
        region="us-east-1",
        endpoint_url=url,
        options={"images": [IMAGE], **options},
    )
    account.credentials = {"access_key": KEY, "secret_key": SECRET}
    account.save()
    return account


def put_load(
    url: str, instances: list[str], *, cpu: float, kbps: float, since: datetime, until: datetime
) -> None:
    """What EC2 would report with detailed monitoring: a datapoint a minute per instance, the
    network as bytes in and out over the minute."""
    first = math.ceil(since.timestamp() / 60) * 60
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": "InstanceId", "Value": instance}],
            "Timestamp": datetime.fromtimestamp(at, tz=UTC),
            "Value": value,
        }
        for instance in instances
        for at in range(first, int(until.timestamp()) + 1, 60)
        for name, value in (
            ("CPUUtilization", cpu),
            ("NetworkIn", kbps * 1000 / 8 * INTERVAL / 2),
            ("NetworkOut", kbps * 1000 / 8 * INTERVAL / 2),
        )
    ]
    cloudwatch = boto(url, "cloudwatch")
    for offset in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[offset : offset + 500])


def instance_state(url: str, instance: str) -> str:
    [reservation] = boto(url, "ec2").describe_instances(InstanceIds=[instance])["Reservations"]
    return reservation["Instances"][0]["State"]["Name"]
