"""The group → role mapping through the API: staff manage it, a mapping's role fits what it
names, and nobody else sees it."""

import pytest

from identity.tests.helpers import acme_fixture  # noqa: F401  (fixture: Acme's projects and people)

pytestmark = pytest.mark.django_db


def test_staff_manage_the_mapping_through_the_api(acme, api_as):
    admin = api_as(acme["admin"])
    created = admin.post(
        "/api/v1/directory-role-mappings/",
        {"group": "/web-shop-managers", "project": acme["web_shop"].pk, "role": "manager"},
    )
    assert created.status_code == 201, created.content
    wrong = admin.post(
        "/api/v1/directory-role-mappings/",
        {"group": "x", "project": acme["web_shop"].pk, "role": "finance"},
    )
    assert wrong.status_code == 400
    assert wrong.json()["role"] == ["A project role is one of: Member, Manager."]
    both = admin.patch(
        f"/api/v1/directory-role-mappings/{created.data['id']}/",
        {"organization": acme["web_shop"].organization_id},
    )
    assert both.status_code == 400
    assert api_as(acme["alice"]).get("/api/v1/directory-role-mappings/").status_code == 403
