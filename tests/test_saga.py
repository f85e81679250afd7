"""The provisioning saga on the sandbox, run step by step in the test process: the graph's order
and parallel readiness, idempotent re-delivery, compensation and destruction in reverse,
composites (database, autoscaling group) and day-2 actions."""

import contextlib

import pytest
from django.db.models import Q

from approvals.services.deciding import approval_decide
from catalog.models import CatalogItem, Order
from catalog.orders import order_deploy, order_destroy
from catalog.selectors import resolve_resources
from catalog.tasks import admit_order
from core.models import AuditEvent
from provisioning.models import (
    CloudAccount,
    Resource,
    ResourceEvent,
    SandboxObject,
    Step,
)
from provisioning.services import (
    TransientProviderError,
    deployment_start,
    resource_action_request,
    step_execute,
)

pytestmark = pytest.mark.django_db

PARAMS = {"size": "small", "image": "ubuntu-24.04", "location": "sandbox-1a"}


def approved_order(demo, slug: str, **parameters) -> Order:
    """An approved order of a default-catalog item with its plan pinned (admission is the
    approvals app's concern)."""
    item = CatalogItem.objects.get(slug=slug)
    order = Order(
        item=item,
        project=demo["web_shop"],
        requester=demo["alice"],
        parameters={**PARAMS, **parameters},
        cloud_account=CloudAccount.objects.get(name="sandbox"),
        status="approved",
    )
    order.pin_plan(resources=resolve_resources(item=item, parameters=order.parameters))
    order.save()
    return order


def deploy_approved() -> None:
    """Play the worker's `catalog.tasks.deploy_order` for every approved order not started."""
    for order in Order.objects.filter(status="approved", deployments=None):
        order_deploy(order_id=order.pk)


def admit_and_deploy(order_id: int) -> None:
    """Play the workers: admit the order (`catalog.tasks.admit_order`) and, when a policy
    approved it at once, deploy it (`catalog.tasks.deploy_order`)."""
    admit_order(order_id)
    deploy_approved()


def queued() -> list[Step]:
    return list(Step.objects.filter(state="pending").exclude(queued_at=None).order_by("id"))


def run_queued(max_rounds: int = 200) -> list[list[Step]]:
    """Play the worker: run every queued step, round after round; returns the rounds."""
    rounds = []
    for _ in range(max_rounds):
        deploy_approved()
        ready = queued() + list(Step.objects.filter(state="running"))
        if not ready:
            return rounds
        rounds.append(ready)
        for step in ready:
            with contextlib.suppress(TransientProviderError):  # Celery would retry; so do we
                step_execute(step_id=step.pk)
    pytest.fail("the saga did not settle")


def keys(steps: list[Step]) -> list[str]:
    return sorted(f"{s.action}:{s.resource.key}" for s in steps)


def test_web_tier_runs_as_a_graph_with_parallel_ready_steps(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    rounds = run_queued()
    assert [keys(r) for r in rounds] == [
        ["create:net"],
        ["create:web", "create:web"],  # both servers at once
        ["create:data", "create:data", "create:lb"],  # volumes and the LB in parallel
        ["create:dns"],
    ]
    order.refresh_from_db()
    assert order.status == "completed"
    resources = {r.name: r for r in order.resources.all()}
    assert set(resources) == {
        "shop-net", "shop-web-1", "shop-web-2", "shop-data-1", "shop-data-2", "shop-lb",
        "shop.apps.example.com",
    }  # fmt: skip
    cloud = {o.name: o for o in SandboxObject.objects.all()}
    assert set(cloud) == {r.canopy_tag for r in resources.values()}
    web1, web2 = resources["shop-web-1"], resources["shop-web-2"]
    assert cloud[web1.canopy_tag].attributes["network_id"] == resources["shop-net"].external_id
    assert cloud[resources["shop-data-1"].canopy_tag].attributes["server_id"] == web1.external_id
    assert cloud[resources["shop-data-2"].canopy_tag].attributes["server_id"] == web2.external_id
    lb = cloud[resources["shop-lb"].canopy_tag]
    assert {m["id"] for m in lb.attributes["members"]} == {web1.external_id, web2.external_id}
    dns = cloud[resources["shop.apps.example.com"].canopy_tag]
    assert dns.attributes["address"] == lb.attributes["address"]
    assert ResourceEvent.objects.filter(kind="created").count() == 7


def test_a_redelivered_step_changes_nothing(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    objects = list(SandboxObject.objects.values_list("external_id", flat=True))
    for step in Step.objects.all():
        step_execute(step_id=step.pk)  # every message delivered once more
    assert list(SandboxObject.objects.values_list("external_id", flat=True)) == objects
    assert ResourceEvent.objects.count() == order.resources.count()


def test_a_step_finds_the_object_its_dead_worker_created(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    network_step = queued()[0]
    step_execute(step_id=network_step.pk)
    server_step = queued()[0]
    from provisioning.providers import get_adapter

    server = server_step.resource
    network = Resource.objects.get(order=order, kind="network")
    adapter = get_adapter(server.cloud_account)
    adapter.create(
        "server", server.canopy_tag, {"size": "small", "network_id": network.external_id}
    )
    Step.objects.filter(pk=server_step.pk).update(state="running", attempts=1)  # it died here
    run_queued()
    assert SandboxObject.objects.filter(name=server.canopy_tag).count() == 1
    assert Order.objects.get(pk=order.pk).status == "completed"


def test_a_permanent_failure_compensates_in_reverse_order(demo):
    CloudAccount.objects.update(options={"fail_on": ["load_balancer"]})
    order = approved_order(demo, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    order.refresh_from_db()
    assert order.status == "failed"
    assert "refused to create a load_balancer" in order.status_message
    assert not SandboxObject.objects.exists()
    assert set(order.resources.values_list("state", flat=True)) == {"deleted"}
    create, compensation = order.deployments.order_by("id")
    assert (create.state, compensation.state) == ("failed", "succeeded")
    assert compensation.compensates == create
    deleted = {
        s.resource.name: s.finished_at for s in compensation.steps.select_related("resource")
    }
    assert deleted["shop-data-1"] < deleted["shop-web-1"] < deleted["shop-net"]
    assert deleted["shop-data-2"] < deleted["shop-web-2"] < deleted["shop-net"]
    assert Step.objects.filter(state="cancelled", resource__key="dns").exists()


def test_destroying_an_order_is_the_saga_in_reverse(demo, api_as):
    order = approved_order(demo, "web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    answer = api_as(demo["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert answer.status_code == 202, answer.data
    assert answer.data["kind"] == "destroy"  # a destroy order, which "Acme deletions" approves
    admit_and_deploy(answer.data["id"])
    rounds = run_queued()
    # Leaves first (the DNS record, the volumes), then what they used, the network last.
    assert [keys(r) for r in rounds] == [
        ["destroy:data", "destroy:data", "destroy:dns"],
        ["destroy:lb"],
        ["destroy:web", "destroy:web"],
        ["destroy:net"],
    ]
    assert not SandboxObject.objects.exists()
    assert ResourceEvent.objects.filter(kind="deleted").count() == 7
    again = api_as(demo["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert again.status_code == 400


def test_database_gets_a_server_with_a_generated_password_only_its_owner_sees(demo, api_as):
    order = approved_order(demo, "postgresql-db", name="orders", db_name="orders")
    deployment_start(order=order)
    run_queued()
    assert Order.objects.get(pk=order.pk).status == "completed"
    database = order.resources.get(kind="database")
    server = database.children.get(kind="server")
    assert database.attributes["host"] == server.private_ips[0]
    assert database.attributes["port"] == 5432
    assert SandboxObject.objects.get(name=server.canopy_tag).attributes["has_user_data"]
    password = database.secret["password"]
    assert len(password) >= 20 and password not in str(database.properties)
    assert not AuditEvent.objects.filter(message__contains=password).exists()
    url = f"/api/v1/resources/{database.pk}/secret/"
    assert api_as(demo["alice"]).get(url).data["password"] == password
    assert api_as(demo["bob"]).get(url).status_code == 404
    assert password not in str(api_as(demo["alice"]).get(f"/api/v1/resources/{database.pk}/").data)


def _members(order: Order) -> set[str]:
    lb = order.resources.get(kind="load_balancer")
    return {m["id"] for m in SandboxObject.objects.get(name=lb.canopy_tag).attributes["members"]}


def _servers(group: Resource) -> set[str]:
    return set(group.children.filter(state="active").values_list("external_id", flat=True))


def test_autoscaling_group_scales_and_the_load_balancer_follows(demo):
    order = approved_order(demo, "autoscaling-web-tier", name="shop", instances=2)
    deployment_start(order=order)
    run_queued()
    group = order.resources.get(kind="autoscaling_group")
    assert len(_servers(group)) == 2 and _members(order) == _servers(group)

    resource_action_request(
        user=demo["alice"], resource_id=group.pk, action="set_desired", params={"desired": 4}
    )
    run_queued()
    group.refresh_from_db()
    assert group.state == "active" and group.properties["desired"] == 4
    assert len(_servers(group)) == 4 and _members(order) == _servers(group)

    resource_action_request(
        user=demo["alice"], resource_id=group.pk, action="set_desired", params={"desired": 1}
    )
    run_queued()
    assert len(_servers(group)) == 1 and _members(order) == _servers(group)
    assert SandboxObject.objects.filter(kind="server").count() == 1

    with pytest.raises(Exception, match="between 1 and 6"):
        resource_action_request(
            user=demo["alice"], resource_id=group.pk, action="set_desired", params={"desired": 9}
        )


def test_day2_actions_record_lifecycle_events(demo, api_as):
    order = approved_order(demo, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    server = order.resources.get(kind="server")
    volume = order.resources.get(kind="volume")
    alice = api_as(demo["alice"])

    def act(resource: Resource, body: dict) -> int:
        """Request an action; a change order (202) is admitted, and approved by "Acme small
        changes" (it adds under 20/month)."""
        answer = alice.post(f"/api/v1/resources/{resource.pk}/actions/", body)
        if answer.status_code == 202:
            admit_and_deploy(answer.data["id"])
        run_queued()
        return answer.status_code

    assert [act(server, {"action": a}) for a in ("stop", "start")] == [200, 200]
    assert act(server, {"action": "resize", "size": "medium"}) == 202
    assert act(volume, {"action": "extend", "size_gb": 50}) == 202
    assert act(volume, {"action": "snapshot"}) == 200
    assert SandboxObject.objects.get(name=server.canopy_tag).size == "medium"
    volume_object = SandboxObject.objects.get(name=volume.canopy_tag)
    assert volume_object.attributes["size_gb"] == 50 and volume_object.attributes["snapshots"]
    events = list(
        ResourceEvent.objects.filter(Q(resource=server) | Q(resource=volume)).values_list(
            "resource__kind", "kind", "size", "quantity"
        )
    )
    assert [(kind, event, size, int(quantity)) for kind, event, size, quantity in events] == [
        ("server", "created", "small", 1),
        ("volume", "created", "", 10),
        ("server", "stopped", "small", 1),
        ("server", "started", "small", 1),
        ("server", "resized", "medium", 1),
        ("volume", "resized", "", 50),
    ]
    bad = alice.post(f"/api/v1/resources/{volume.pk}/actions/", {"action": "extend", "size_gb": 5})
    assert bad.status_code == 400 and "size_gb" in bad.data
    wrong = alice.post(f"/api/v1/resources/{volume.pk}/actions/", {"action": "reboot"})
    assert wrong.status_code == 400 and "action" in wrong.data


def test_transient_failures_are_retried_without_duplicates(demo):
    CloudAccount.objects.update(options={"transient_failure_rate": 0.3})
    orders = [approved_order(demo, "web-tier", name=f"t{i}", instances=2) for i in range(3)]
    for order in orders:
        deployment_start(order=order)
    run_queued()
    assert {o.status for o in Order.objects.filter(pk__in=[o.pk for o in orders])} == {"completed"}
    assert Step.objects.filter(attempts__gt=1).exists()
    names = list(SandboxObject.objects.values_list("name", flat=True))
    assert len(names) == len(set(names)) == 3 * 7


def test_order_destroy_checks_permission(demo):
    order = approved_order(demo, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    with pytest.raises(Exception, match="may not"):
        order_destroy(user=demo["dave"], order_id=order.pk)


def test_pages_show_the_steps_and_reveal_the_password_to_the_owner_only(demo, client):
    order = approved_order(demo, "postgresql-db", name="orders", db_name="orders")
    deployment_start(order=order)
    run_queued()
    database = order.resources.get(kind="database")
    client.force_login(demo["alice"])
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-testid="deployment-steps"' in page and "orders-server" in page
    detail = client.get(f"/resources/{database.pk}/").content.decode()
    assert 'data-testid="reveal-secret"' in detail
    assert database.secret["password"] not in detail
    revealed = client.get(f"/resources/{database.pk}/secret/").content.decode()
    assert database.secret["password"] in revealed
    client.force_login(demo["bob"])
    assert client.get(f"/resources/{database.pk}/secret/").status_code == 403
    client.force_login(demo["alice"])
    answer = client.post(f"/orders/{order.pk}/destroy/")  # a destroy order…
    assert answer.status_code == 302
    destroy = Order.objects.get(kind="destroy")
    admit_and_deploy(destroy.pk)
    # …which, holding a database, waits for the manager.
    approval_decide(user=demo["bob"], approval_id=destroy.approval.pk, approve=True)
    deploy_approved()
    run_queued()
    assert not SandboxObject.objects.exists()
