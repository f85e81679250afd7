"""Provisioning's test helpers, shared by its tests and those of the apps above it.

Orders with a pinned plan (`provisioning.tests.plans`) deployed by their saga played in the
test process (`provisioning.tests.saga`), a resource's metrics over a fixed window, and an EC2
account at moto with what CloudWatch would report of its instances.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import User
from django.db.models import QuerySet

from core.models import Organization
from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import CloudAccount, Resource
from provisioning.providers.base import MetricPoint
from provisioning.selectors import resource_metrics
from provisioning.services.saga import deployment_start
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import (
    IMAGE,
    autoscaling_web_tier_plan,
    database_plan,
    server_plan,
    web_tier_plan,
)
from provisioning.tests.saga import run_queued
from tests.moto_server import boto

if TYPE_CHECKING:  # orders live in catalog, above this app: only built by name
    from catalog.models import Order

KEY, SECRET = "AKIDCANOPYTEST", "canopy-secret"
# The instances' datapoint period an EC2 account declares (detailed monitoring), in seconds.
INTERVAL = 60
CLOUDWATCH = {"metrics": {"source": "cloudwatch", "interval": INTERVAL}}


# --- deployed orders ---------------------------------------------------------------------------
def planned_order(resources: list[dict], **fields: Any) -> "Order":
    """An approved order pinning `resources` as its plan (admission is the approvals app's
    concern); `fields` go to `ApprovedOrderFactory` (cloud_account, …). Without a project, the
    requester (given or new) is a member of the order's own, in the account's organization
    when given."""
    if "project" not in fields:
        fields["requester"] = fields.get("requester") or UserFactory()
        account = fields.get("cloud_account")
        organization = {"organization": account.organization} if account else {}
        fields["project"] = ProjectFactory(members=[fields["requester"]], **organization)
    return ApprovedOrderFactory(resources=resources, **fields)


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


def database_of(owner: User, *, colleague: User) -> Resource:
    """A database deployed for `owner`'s order in a project `colleague` manages."""
    order = deployed(
        planned_order(
            database_plan(name="orders"),
            project=ProjectFactory(members=[owner], managers=[colleague]),
            requester=owner,
        )
    )
    return order.resources.get(kind="database")


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
