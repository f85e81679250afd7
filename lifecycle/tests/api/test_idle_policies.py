"""Idle policies over the API: organization admins alone set them, one per organization or
project, audited."""

import pytest

from core.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_idle_policies_over_the_api_are_for_organization_admins(shop, api_as):
    body = {
        "name": "Acme idle",
        "organization": "acme",
        "window": "01:00:00",
        "stop_after": "2 00:00:00",
    }
    assert api_as(shop["bob"]).post("/api/v1/idle-policies/", body).status_code == 403
    admin = api_as(shop["admin"])
    created = admin.post("/api/v1/idle-policies/", body)
    assert created.status_code == 201 and created.data["stop_after"] == "2 00:00:00"
    assert admin.post("/api/v1/idle-policies/", body).status_code == 400  # one per organization
    project = {"name": "web-shop", "project": shop["web_shop"].pk, "window": "00:10:00"}
    assert admin.post("/api/v1/idle-policies/", project).status_code == 201
    both = {**body, "project": shop["data_lab"].pk}
    assert admin.post("/api/v1/idle-policies/", both).status_code == 400
    changed = admin.patch(f"/api/v1/idle-policies/{created.data['id']}/", {"enabled": False})
    assert changed.status_code == 200 and changed.data["enabled"] is False
    assert api_as(shop["alice"]).get("/api/v1/idle-policies/").data["results"] == []
    assert AuditEvent.objects.filter(action__startswith="idle_policy.").count() == 3
