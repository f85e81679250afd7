"""The provisioning saga on the sandbox, run step by step in the test process: the graph's order
and parallel readiness, idempotent re-delivery, compensation and destruction in reverse,
composites (database, autoscaling group) and day-2 actions."""

import pytest
from django.core.exceptions import ValidationError

from core.models import AuditEvent
from core.tests.factories import ProjectFactory, UserFactory
from provisioning.models import (
    CloudAccount,
    Resource,
    ResourceEvent,
    SandboxObject,
    Step,
)
from provisioning.providers import get_adapter
from provisioning.services.day2 import resource_action_request
from provisioning.services.saga import deployment_start, order_resources_destroy, step_execute
from provisioning.tests.factories import ApprovedOrderFactory
from provisioning.tests.plans import autoscaling_web_tier_plan, database_plan, web_tier_plan
from provisioning.tests.saga import deployed_order, queued, run_queued

pytestmark = pytest.mark.django_db


def keys(steps: list[Step]) -> list[str]:
    return sorted(f"{s.action}:{s.resource.key}" for s in steps)


def test_web_tier_runs_as_a_graph_with_parallel_ready_steps():
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=2))
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


def test_a_redelivered_step_changes_nothing():
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=1))
    deployment_start(order=order)
    run_queued()
    objects = list(SandboxObject.objects.values_list("external_id", flat=True))
    for step in Step.objects.all():
        step_execute(step_id=step.pk)  # every message delivered once more
    assert list(SandboxObject.objects.values_list("external_id", flat=True)) == objects
    assert ResourceEvent.objects.count() == order.resources.count()


def test_a_step_finds_the_object_its_dead_worker_created():
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=1))
    deployment_start(order=order)
    network_step = queued()[0]
    step_execute(step_id=network_step.pk)
    server_step = queued()[0]
    server = server_step.resource
    network = Resource.objects.get(order=order, kind="network")
    adapter = get_adapter(server.cloud_account)
    adapter.create(
        "server", server.canopy_tag, {"size": "small", "network_id": network.external_id}
    )
    Step.objects.filter(pk=server_step.pk).update(state="running", attempts=1)  # it died here
    run_queued()
    assert SandboxObject.objects.filter(name=server.canopy_tag).count() == 1
    order.refresh_from_db()
    assert order.status == "completed"


def test_a_permanent_failure_compensates_in_reverse_order():
    order = ApprovedOrderFactory(resources=web_tier_plan(name="shop", instances=2))
    CloudAccount.objects.update(options={"fail_on": ["load_balancer"]})
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


def test_destroying_an_orders_resources_is_the_saga_in_reverse():
    member = UserFactory()
    order = deployed_order(
        resources=web_tier_plan(name="shop", instances=2),
        project=ProjectFactory(members=[member]),
        requester=member,
    )
    order_resources_destroy(user=member, order=order)
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
    with pytest.raises(ValidationError, match="no resources left"):
        order_resources_destroy(user=member, order=order)


def test_database_gets_a_server_with_a_generated_password_kept_out_of_sight():
    order = deployed_order(resources=database_plan(name="orders"))
    order.refresh_from_db()
    assert order.status == "completed"
    database = order.resources.get(kind="database")
    server = database.children.get(kind="server")
    assert database.attributes["host"] == server.private_ips[0]
    assert database.attributes["port"] == 5432
    assert SandboxObject.objects.get(name=server.canopy_tag).attributes["has_user_data"]
    password = database.secret["password"]
    assert len(password) >= 20 and password not in str(database.properties)
    assert not AuditEvent.objects.filter(message__contains=password).exists()


def _members(order) -> set[str]:
    lb = order.resources.get(kind="load_balancer")
    return {m["id"] for m in SandboxObject.objects.get(name=lb.canopy_tag).attributes["members"]}


def _servers(group: Resource) -> set[str]:
    return set(group.children.filter(state="active").values_list("external_id", flat=True))


def test_autoscaling_group_scales_and_the_load_balancer_follows():
    member = UserFactory()
    order = deployed_order(
        resources=autoscaling_web_tier_plan(name="shop", instances=2),
        project=ProjectFactory(members=[member]),
        requester=member,
    )
    group = order.resources.get(kind="autoscaling_group")
    assert len(_servers(group)) == 2 and _members(order) == _servers(group)

    resource_action_request(
        user=member, resource_id=group.pk, action="set_desired", params={"desired": 4}
    )
    run_queued()
    group.refresh_from_db()
    assert group.state == "active" and group.properties["desired"] == 4
    assert len(_servers(group)) == 4 and _members(order) == _servers(group)

    resource_action_request(
        user=member, resource_id=group.pk, action="set_desired", params={"desired": 1}
    )
    run_queued()
    assert len(_servers(group)) == 1 and _members(order) == _servers(group)
    assert SandboxObject.objects.filter(kind="server").count() == 1

    with pytest.raises(Exception, match="between 1 and 6"):
        resource_action_request(
            user=member, resource_id=group.pk, action="set_desired", params={"desired": 9}
        )


def test_transient_failures_are_retried_without_duplicates():
    orders = [
        ApprovedOrderFactory(resources=web_tier_plan(name=f"t{i}", instances=2)) for i in range(3)
    ]
    CloudAccount.objects.update(options={"transient_failure_rate": 0.3})
    for order in orders:
        deployment_start(order=order)
    run_queued()
    for order in orders:
        order.refresh_from_db()
    assert {o.status for o in orders} == {"completed"}
    assert Step.objects.filter(attempts__gt=1).exists()
    names = list(SandboxObject.objects.values_list("name", flat=True))
    assert len(names) == len(set(names)) == 3 * 7
