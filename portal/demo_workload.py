"""Demo workloads for `make run` (`seed_demo`): in data-lab a lease running out and an idle
server reclaimed minutes apart, in web-shop an autoscaling group under a wave load. Skipped
unless CANOPY_DEMO_WORKLOAD (off in the test suite and the benchmarks). The shell seeds them
through each app's own services, as a person would."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from approvals.services.deciding import approval_decide
from autoscaling.models import ScalingPolicy
from autoscaling.selectors import GROUP_KIND
from autoscaling.services import policy_save as scaling_policy_save
from catalog.models import Order, OrderStatus
from catalog.orders import order_admit, order_deploy
from catalog.selectors.menu import catalog_item_list
from catalog.services import order_submit
from core.models import Project
from lifecycle.models import IdlePolicy
from lifecycle.services.leases import GONE, lease_open
from lifecycle.services.reclaim import idle_policy_save
from provisioning.models import Resource, ResourceState
from provisioning.services.simulation import simulated_load_set

# --- leases and idle reclaim, in data-lab ---------------------------------------------------
DEMO_LEASE_MINUTES = 6
DEMO_POLICY_WAITS = {
    "window": timedelta(minutes=2),
    "notify_after": timedelta(0),
    "stop_after": timedelta(minutes=2),
    "retire_after": timedelta(minutes=2),
    "delete_after": timedelta(minutes=3),
}


def _demo_order(user: AbstractUser, project: Project, name: str) -> Order | None:
    """A new linux-vm order admitted at once (data-lab approves small orders itself); None
    while an earlier demo order of that name is in flight or still has resources."""
    earlier = Order.objects.filter(project=project, parameters__name=name)
    in_flight = earlier.exclude(
        status__in=[OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.CANCELLED]
    )
    if (
        in_flight.filter(resources__isnull=True).exists()
        or Resource.objects.filter(order__in=earlier).exclude(state__in=GONE).exists()
    ):
        return None
    item = catalog_item_list(user=user).get(slug="linux-vm")
    order = order_submit(
        user=user, item=item, project=project, parameters={"name": name, "size": "small"}
    )
    order_admit(order_id=order.pk)  # data-lab's policy approves it at once
    # Planned now rather than by the worker, so the seed can mark its servers idle.
    order_deploy(order_id=order.pk)
    order.refresh_from_db()
    return order


def lifecycle_demo_seed() -> None:
    """For `make run`: in data-lab, a server whose lease runs out minutes after seeding (its
    warning due at once, then retired into the grace period), and an idle server under a demo
    policy whose graded steps follow each other minutes apart. Idempotent; skipped unless
    CANOPY_DEMO_WORKLOAD (off in the test suite, whose demo organization stays empty)."""
    if not settings.CANOPY_DEMO_WORKLOAD:
        return
    dave = get_user_model().objects.get(username="dave")
    data_lab = Project.objects.get(slug="data-lab")
    for scope, name, fields in [
        (
            {"organization": data_lab.organization},
            "Acme idle servers",
            {
                "cpu_below_percent": 5,
                "network_below_kbps": 50,
                "window": timedelta(days=1),
                "notify_after": timedelta(0),
                "stop_after": timedelta(days=3),
                "retire_after": timedelta(days=7),
                "delete_after": timedelta(days=14),
            },
        ),
        (
            {"project": data_lab},
            "data-lab demo (minutes)",
            {"cpu_below_percent": 10, "network_below_kbps": 200, **DEMO_POLICY_WAITS},
        ),
    ]:
        policy = IdlePolicy.objects.filter(**scope).first()
        scope = scope if policy is None else {}
        idle_policy_save(user=None, policy=policy, **scope, fields={"name": name, **fields})
    order = _demo_order(dave, data_lab, "lease-demo")
    if order is not None and order.status != OrderStatus.REJECTED:
        lease_open(order=order, expires_at=timezone.now() + timedelta(minutes=DEMO_LEASE_MINUTES))
    order = _demo_order(dave, data_lab, "idle-demo")
    if order is not None:
        for server in order.resources.filter(kind="server"):
            simulated_load_set(resource=server, load="idle")


# --- autoscaling, in web-shop ------------------------------------------------------------
AUTOSCALING_DEMO_NAME = "autoscale-demo"
# Short windows and cooldown, and a load that is high for 10 minutes then low for 10: `make run`
# shows the group growing to its max and shrinking back to its min within minutes.
AUTOSCALING_DEMO_LOAD = "wave:20"
AUTOSCALING_DEMO_POLICY = {
    "metric": ScalingPolicy.Metric.CPU,
    "scale_out_threshold": 70,
    "scale_out_window": 2,
    "scale_in_threshold": 30,
    "scale_in_window": 2,
    "step": 1,
    "cooldown": 2,
}


def autoscaling_demo_seed() -> None:
    """For `make run`: alice's autoscaling web tier in web-shop (1 to 4 servers), approved by
    bob, with a CPU policy of short windows and a wave load. Idempotent: a live demo group only
    gets its policy and load back; a new order is placed once the earlier one is gone."""
    if not settings.CANOPY_DEMO_WORKLOAD:
        return
    users = get_user_model().objects.in_bulk(["alice", "bob"], field_name="username")
    alice, bob = users["alice"], users["bob"]
    web_shop = Project.objects.get(organization__slug="acme", slug="web-shop")
    demo_orders = web_shop.orders.filter(parameters__name=AUTOSCALING_DEMO_NAME)
    group = (
        Resource.objects.filter(order__in=demo_orders, kind=GROUP_KIND)
        .exclude(state__in=[ResourceState.DELETED, ResourceState.DELETING, ResourceState.MISSING])
        .order_by("-id")
        .first()
    )
    if group is None:
        if demo_orders.filter(
            status__in=[OrderStatus.SUBMITTED, OrderStatus.PENDING_APPROVAL]
        ).exists():
            return  # an earlier seed's order is still being admitted
        item = catalog_item_list(user=alice).get(slug="autoscaling-web-tier")
        order = order_submit(
            user=alice,
            item=item,
            project=web_shop,
            parameters={
                "name": AUTOSCALING_DEMO_NAME,
                "size": "small",
                "instances": 1,
                "max_instances": 4,
            },
        )
        order_admit(order_id=order.pk)
        order.refresh_from_db()
        if order.status == OrderStatus.PENDING_APPROVAL:
            approval_decide(user=bob, approval_id=order.approval.pk, approve=True, comment="demo")
        # Planned now rather than by the worker, so the seed can give the group its policy.
        order_deploy(order_id=order.pk)
        group = order.resources.filter(kind=GROUP_KIND).first()
        if group is None:
            return  # refused (quota, budget): the order page says why
    if not group.scaling_policies.exists():
        scaling_policy_save(user=bob, policy=None, data={"group": group, **AUTOSCALING_DEMO_POLICY})
    simulated_load_set(resource=group, load=AUTOSCALING_DEMO_LOAD)
