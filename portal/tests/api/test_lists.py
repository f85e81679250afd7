"""Every list is paginated and filtered the same way in the API and the browser: the API's
answers, the pages beside them."""

import pytest

from core.models import Project
from core.pagination import MAX_PAGE_SIZE
from portal.tests.helpers import (
    browser,
    estate_fixture,  # noqa: F401  (fixture: 60 servers of web-shop's, 3 of data-lab's)
    names_on,
)
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


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
