"""What portal's tests share across layers (their fixtures: conftest.py; their world:
`catalog_world`): a signed-in browser, orders carried to completed, an estate of listed
resources, and the rows the dashboard and /metrics count."""

from collections import Counter
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from catalog.models import Order
from catalog.orders import order_deploy
from catalog.tests.saga import approved_order, run_queued
from provisioning.models import Resource, Step
from provisioning.providers import get_adapter

ROOT = Path(__file__).resolve().parents[2]  # the repository


def browser(user: User) -> Client:
    """A Django test client signed in as `user`."""
    client = Client()
    client.force_login(user)
    return client


def provisioned(demo, slug: str = "linux-vm", **parameters) -> Order:
    """An order approved, then deployed by the saga: completed."""
    order = approved_order(demo, slug, **parameters)
    order_deploy(order_id=order.pk)
    run_queued()
    order.refresh_from_db()
    assert order.status == "completed", order.status_message
    return order


def estate_in(world: dict) -> dict:
    """A web-shop order with 60 servers (more than a page) and a data-lab order with 3."""
    orders = {}
    for project, user, count in (
        (world["web_shop"], world["alice"], 60),
        (world["data_lab"], world["dave"], 3),
    ):
        order = Order.objects.create(item=world["linux_vm"], project=project, requester=user)
        Resource.objects.bulk_create(
            Resource(
                order=order,
                project=project,
                cloud_account=world["sandbox"],
                kind="server" if i % 2 else "volume",
                name=f"{project.slug}-{i:03d}",
            )
            for i in range(count)
        )
        orders[project.slug] = order
    return {**world, "orders": orders}


def names_on(page: str, prefix: str) -> set[str]:
    return {word.split("<")[0] for word in page.split(">") if word.startswith(prefix)}


# --- what the dashboard and /metrics count ----------------------------------------------------


def make_order(world, *, user="alice", project="web_shop", status="submitted") -> Order:
    return Order.objects.create(
        item=world["linux_vm"],
        project=world[project],
        requester=world[user],
        parameters={"name": "web-1", "size": "small"},
        status=status,
    )


def make_resource(
    world, *, state="active", kind="server", order=None, parent=None, **order_kwargs
) -> Resource:
    order = order or make_order(world, status="completed", **order_kwargs)
    return Resource.objects.create(
        order=order,
        parent=parent,
        project=order.project,
        cloud_account=world["sandbox"],
        kind=kind,
        name=f"{kind}-{Resource.objects.count() + 1}",
        state=state,
        status_message="the provider said no" if state == "error" else "",
    )


def make_step(resource, *, state="done", attempts=1, wait=1.0, run=2.0, error="") -> Step:
    finished = timezone.now() - timedelta(minutes=1)
    started = finished - timedelta(seconds=run)
    return Step.objects.create(
        resource=resource,
        action="create",
        state=state,
        attempts=attempts,
        last_error=error,
        queued_at=started - timedelta(seconds=wait),
        started_at=started,
        finished_at=finished,
    )


def populate(world, scale: int = 1) -> None:
    """Rows of every kind the dashboard and /metrics count, in both projects."""
    for _ in range(scale):
        for project, user in (("web_shop", "alice"), ("data_lab", "dave")):
            server = make_resource(world, project=project, user=user)
            make_resource(world, project=project, user=user, state="stopped")
            broken = make_resource(world, project=project, user=user, state="error")
            make_step(server, attempts=3, wait=0.3, run=4)
            make_step(broken, state="failed", attempts=2, wait=20, run=50, error="quota exceeded")
            make_order(world, user=user, project=project, status="provisioning")
            group = make_resource(world, project=project, user=user, kind="autoscaling_group")
            Resource.objects.filter(pk=group.pk).update(
                properties={"min": 1, "max": 3, "desired": 1}
            )
            make_resource(world, order=group.order, parent=group)
            make_order(world, user=user, project=project, status="failed")


def visible_states(*projects) -> dict[str, int]:
    return dict(
        Counter(
            Resource.objects.filter(project__in=projects)
            .exclude(state="deleted")
            .values_list("state", flat=True)
        )
    )


def sandbox_server_in(world: dict) -> Resource:
    """An active server that exists in the sandbox cloud, so it has a metric series."""
    server = make_resource(world)
    obj = get_adapter(server.cloud_account).create(
        "server", server.canopy_tag, {"size": "small", "image": "debian-12", "location": "local"}
    )
    Resource.objects.filter(pk=server.pk).update(external_id=obj.external_id)
    server.refresh_from_db()
    return server
