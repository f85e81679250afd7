"""Every list is paginated and filtered the same way in the browser and the API: the pages,
their filters and their cost in queries."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.models import Order
from portal.tests.helpers import (
    browser,
    estate_fixture,  # noqa: F401  (fixture: 60 servers of web-shop's, 3 of data-lab's)
)
from provisioning.models import CloudAccount, Resource

pytestmark = pytest.mark.django_db


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
