"""Every list is paginated and filtered the same way in the browser and the API."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Order
from core.models import Project
from core.pagination import MAX_PAGE_SIZE
from provisioning.models import CloudAccount, Resource

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(demo) -> dict:
    """A web-shop order with 60 servers (more than a page) and a data-lab order with 3."""
    account = CloudAccount.objects.get(provider="sandbox")
    orders = {}
    for project, user, count in (
        (demo["web_shop"], demo["alice"], 60),
        (demo["data_lab"], demo["dave"], 3),
    ):
        order = Order.objects.create(item=demo["linux_vm"], project=project, requester=user)
        Resource.objects.bulk_create(
            Resource(
                order=order,
                project=project,
                cloud_account=account,
                kind="server" if i % 2 else "volume",
                name=f"{project.slug}-{i:03d}",
            )
            for i in range(count)
        )
        orders[project.slug] = order
    return {**demo, "orders": orders}


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names_on(page: str, prefix: str) -> set[str]:
    return {word.split("<")[0] for word in page.split(">") if word.startswith(prefix)}


def test_resource_list_pages_match_the_api(estate, api_as):
    alice = estate["alice"]
    api = api_as(alice).get("/api/v1/resources/", {"page_size": 25, "page": 2}).json()
    html = browser(alice).get("/resources/", {"page_size": 25, "page": 2}).content.decode()
    assert api["count"] == 60
    assert len(api["results"]) == 25
    assert "Page 2 of 3 (60 in all)" in html
    assert len(names_on(html, "web-shop-")) == 25
    assert not names_on(html, "data-lab-")  # dave's project is not alice's


def test_filters_mean_the_same_on_both_sides(estate, api_as):
    alice = estate["alice"]
    query = {"kind": "server", "q": "-01"}
    api = api_as(alice).get("/api/v1/resources/", query).json()
    html = browser(alice).get("/resources/", query).content.decode()
    expected = {
        name
        for name in Resource.objects.filter(project__slug="web-shop", kind="server").values_list(
            "name", flat=True
        )
        if "-01" in name
    }
    assert expected and {r["name"] for r in api["results"]} == expected
    assert names_on(html, "web-shop-") == expected


def test_page_size_is_capped(estate, api_as):
    answer = api_as(estate["alice"]).get("/api/v1/resources/", {"page_size": 10_000}).json()
    assert answer["count"] == 60 and len(answer["results"]) == min(60, MAX_PAGE_SIZE)


def test_another_projects_id_is_a_400_naming_the_field(estate, api_as):
    other = Project.objects.get(slug="data-lab").pk
    answer = api_as(estate["alice"]).get("/api/v1/resources/", {"project": other})
    assert answer.status_code == 400 and "project" in answer.json()
    page = browser(estate["alice"]).get("/resources/", {"project": other})
    assert page.status_code == 400 and b"Project:" in page.content


def test_the_project_choice_lists_only_the_callers_projects(estate):
    page = browser(estate["alice"]).get("/resources/").content.decode()
    projects = re.search(r'<select name="project".*?</select>', page, re.S).group(0)
    offered = {int(pk) for pk in re.findall(r'<option value="(\d+)"', projects)}
    assert offered == {estate["web_shop"].pk}


def test_order_list_is_paginated_and_filtered(estate, api_as):
    alice = estate["alice"]
    html = browser(alice).get("/orders/", {"status": "submitted", "page_size": 1})
    api = api_as(alice).get("/api/v1/orders/", {"status": "submitted", "page_size": 1}).json()
    assert html.status_code == 200 and api["count"] == 1
    assert f"#{estate['orders']['web-shop'].pk}" in html.content.decode()
    assert browser(alice).get("/orders/", {"status": "nonsense"}).status_code == 400


def query_count(client: Client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_resource_and_order_pages_cost_the_same_queries_whatever_the_estate(estate):
    """A fuller page must not mean more queries (no N+1 on the lists)."""
    alice = browser(estate["alice"])
    before = {path: query_count(alice, path) for path in ("/resources/", "/orders/")}
    order = estate["orders"]["web-shop"]
    for _ in range(5):
        Order.objects.create(item=order.item, project=order.project, requester=order.requester)
    Resource.objects.bulk_create(
        Resource(
            order=order,
            project=order.project,
            cloud_account=CloudAccount.objects.get(provider="sandbox"),
            kind="server",
            name=f"extra-{i}",
        )
        for i in range(40)
    )
    assert {path: query_count(alice, path) for path in before} == before
