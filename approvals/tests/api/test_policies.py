"""The policies API: staff create and edit policies, everyone signed in reads them; a policy
with an empty cost range or a group stage without its group is refused."""

import pytest

from core.tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_policies_api_staff_edit_everyone_reads(api_as):
    alice = UserFactory(username="alice")
    web_shop = ProjectFactory(members=[alice])
    admin = api_as(UserFactory(username="admin", is_staff=True, is_superuser=True))
    body = {
        "name": "Big spenders",
        "organization": web_shop.organization_id,
        "min_monthly_cost": "1000.00",
        "resource_kinds": ["server"],
        "stages": [
            {"name": "Manager", "role": "project_manager"},
            {"name": "CFO", "role": "finance", "sla_hours": 24, "on_timeout": "reject"},
        ],
    }
    assert api_as(alice).post("/api/v1/policies/", body, format="json").status_code == 403
    created = admin.post("/api/v1/policies/", body, format="json")
    assert created.status_code == 201, created.content
    assert [s["name"] for s in created.json()["stages"]] == ["Manager", "CFO"]
    listed = api_as(alice).get("/api/v1/policies/").json()
    assert "Big spenders" in [p["name"] for p in listed["results"]]
    bad = admin.post(
        "/api/v1/policies/",
        {**body, "name": "x", "min_monthly_cost": "5", "max_monthly_cost": "1"},
        format="json",
    )
    assert bad.status_code == 400 and "max_monthly_cost" in bad.json()
    no_group = admin.post(
        "/api/v1/policies/",
        {**body, "name": "y", "stages": [{"name": "G", "role": "group"}]},
        format="json",
    )
    assert no_group.status_code == 400 and "stages" in no_group.json()
