"""The REST API as a script would use it."""

import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from catalog.models import Order
from catalog.tasks import admit_order
from catalog.tests.saga import deploy_approved
from provisioning.models import Step
from provisioning.services.saga import step_execute
from tests.fixtures import order_via_api

pytestmark = pytest.mark.django_db


def test_token_login_lists_projects_and_items(demo):
    client = APIClient()
    answer = client.post("/api/v1/auth/token/", {"username": "alice", "password": "canopy"})
    assert answer.status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Token {answer.data['token']}")
    projects = client.get("/api/v1/projects/").json()
    assert [p["name"] for p in projects["results"]] == ["web-shop"]
    items = client.get("/api/v1/catalog/items/").json()
    assert items["count"] == 8  # the default catalog, autoscaling-web-tier entitled to web-shop
    linux_vm = next(item for item in items["results"] if item["slug"] == "linux-vm")
    assert linux_vm["parameters"]["required"] == ["name", "size"]
    assert linux_vm["estimated_monthly_cost"] == "14.60"  # 0.02/h for 730 h


def test_order_submit_quotes_and_waits_for_approval(demo, api_as):
    alice = api_as(demo["alice"])
    answer = order_via_api(alice, demo, size="medium")
    assert answer.status_code == 201, answer.content
    assert answer.data["status"] == "submitted"  # admission runs on a worker
    assert answer.data["estimated_monthly_cost"] == "29.20"
    assert alice.get(f"/api/v1/orders/{answer.data['id']}/").json()["status"] == "pending_approval"


def test_bad_parameters_answer_400_per_field_and_create_nothing(demo, api_as):
    answer = order_via_api(api_as(demo["alice"]), demo, name="Not A Name!", size="huge")
    assert answer.status_code == 400
    assert set(answer.json()) == {"name", "size"}
    assert answer.json()["size"] == ["Choose one of: small, medium, large."]
    assert not Order.objects.exists()


def test_missing_parameter_is_named(demo, api_as):
    answer = api_as(demo["alice"]).post(
        "/api/v1/orders/",
        {"item": "linux-vm", "project": demo["web_shop"].pk, "parameters": {"name": "x1"}},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json() == {"size": ["This field is required."]}


def test_foreign_project_is_403_and_unknown_item_404(demo, api_as):
    client = api_as(demo["alice"])
    foreign = client.post(
        "/api/v1/orders/",
        {
            "item": "linux-vm",
            "project": demo["data_lab"].pk,
            "parameters": {"name": "x1", "size": "small"},
        },
        format="json",
    )
    unknown = client.post(
        "/api/v1/orders/",
        {"item": "nope", "project": demo["web_shop"].pk, "parameters": {}},
        format="json",
    )
    assert (foreign.status_code, unknown.status_code) == (403, 404)
    assert not Order.objects.exists()


def test_only_a_manager_of_the_project_decides(demo, api_as):
    order_id = order_via_api(api_as(demo["alice"]), demo).data["id"]
    approval_id = Order.objects.get(pk=order_id).approval.pk
    for outsider in ("alice", "dave"):  # own order; other project
        client = api_as(demo[outsider])
        assert client.get("/api/v1/approvals/?status=pending").json()["count"] == 0
        answer = client.post(f"/api/v1/approvals/{approval_id}/approve/", {"comment": "me"})
        assert answer.status_code in (403, 404)
    bob = api_as(demo["bob"])
    assert bob.get("/api/v1/approvals/?status=pending").json()["count"] == 1
    answer = bob.post(f"/api/v1/approvals/{approval_id}/reject/", {"comment": "too big"})
    assert answer.status_code == 200
    order = api_as(demo["alice"]).get(f"/api/v1/orders/{order_id}/").json()
    assert order["status"] == "rejected"
    assert order["status_message"] == "too big"
    assert [e["to_state"] for e in order["events"] if e["action"] == "order.status"] == [
        "pending_approval",
        "rejected",
    ]


def test_approved_order_provisions_and_resource_actions_run(demo, api_as):
    alice, bob = api_as(demo["alice"]), api_as(demo["bob"])
    order_id = order_via_api(alice, demo).data["id"]
    bob.post(f"/api/v1/approvals/{Order.objects.get(pk=order_id).approval.pk}/approve/", {})
    deploy_approved()  # the worker plans the deployment
    for step in Step.objects.all():
        step_execute(step_id=step.pk)
    order = alice.get(f"/api/v1/orders/{order_id}/").json()
    assert order["status"] == "completed"
    assert [s["state"] for s in order["steps"]] == ["done"]
    resource = alice.get(f"/api/v1/resources/?order={order_id}").json()["results"][0]
    assert resource["state"] == "active" and resource["external_id"]

    answer = alice.post(f"/api/v1/resources/{resource['id']}/actions/", {"action": "stop"})
    assert answer.status_code == 200  # immediate: the step, not an order
    step_execute(step_id=answer.data["id"])
    assert alice.get(f"/api/v1/resources/{resource['id']}/").json()["state"] == "stopped"
    again = alice.post(f"/api/v1/resources/{resource['id']}/actions/", {"action": "reboot"})
    assert again.status_code == 400 and "stopped" in again.json()["action"][0]
    other = api_as(demo["dave"]).post(
        f"/api/v1/resources/{resource['id']}/actions/", {"action": "destroy"}
    )
    assert other.status_code == 404


def test_order_page_shows_the_deployment_graph(demo, api_as):
    alice, bob = api_as(demo["alice"]), api_as(demo["bob"])
    answer = alice.post(
        "/api/v1/orders/",
        {
            "item": "web-tier",
            "project": demo["web_shop"].pk,
            "parameters": {"name": "shop", "size": "small", "instances": 2},
        },
        format="json",
    )
    assert answer.status_code == 201, answer.content
    order_id = answer.data["id"]
    admit_order(order_id)  # as the worker would
    bob.post(f"/api/v1/approvals/{Order.objects.get(pk=order_id).approval.pk}/approve/", {})
    deploy_approved()  # the worker plans the deployment
    order = alice.get(f"/api/v1/orders/{order_id}/").json()
    assert order["status"] == "provisioning"
    kinds = sorted(r["kind"] for r in order["resources"])
    assert kinds == sorted(
        ["network", "server", "server", "volume", "volume", "load_balancer", "dns_record"]
    )
    assert {r["key"].split("-")[0] for r in order["resources"]} == {
        "net",
        "web",
        "data",
        "lb",
        "dns",
    }
    steps = {s["resource"]: s for s in order["steps"]}
    assert len(steps) == 7
    assert all(
        s["state"] in ("pending", "running") and s["last_error"] == "" for s in steps.values()
    )
    network = next(r for r in order["resources"] if r["kind"] == "network")
    dns = next(s for s in steps.values() if s["kind"] == "dns_record")
    assert dns["depends_on"] and steps[network["id"]]["depends_on"] == []
    page = Client()
    page.force_login(demo["alice"])
    live = page.get(f"/orders/{order_id}/live/").content.decode()
    assert "shop-lb" in live and 'hx-trigger="every 2s"' in live


def test_schema_and_docs_are_served_without_a_cdn(demo, client):
    client.force_login(demo["alice"])
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/").content.decode()
    # Asset addresses only: the page also carries a random CSRF token, which may spell "cdn".
    assets = re.findall(r'(?:src|href)="([^"]*)"', docs)
    assert "swagger-ui" in docs and assets
    assert not [url for url in assets if "cdn" in url.lower() or "://" in url]
