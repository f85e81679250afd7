"""Bad input is a 400 naming the problem, never a 500 and never silently ignored: JSON nested
too deep, negative thresholds, and malformed query parameters on every list endpoint."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from billing.models import Budget

# --- JSON nesting ----------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


# Every kind of JSON endpoint: sign-in, an order, a delegation, an admin's writes.
JSON_ENDPOINTS = [
    "/api/v1/auth/token/",
    "/api/v1/orders/",
    "/api/v1/orders/quote/",
    "/api/v1/approvals/delegations/",
    "/api/v1/policies/",
    "/api/v1/idle-policies/",
    "/api/v1/cloud-accounts/",
]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_json_nested_too_deep_is_a_400(world, api_as, path, depth):
    answer = api_as(world["admin"]).post(path, _nested(depth), content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "nests more than" in answer.json()["detail"]


def test_the_token_endpoint_refuses_deep_json_when_anonymous(world):
    answer = APIClient().post(
        "/api/v1/auth/token/", _nested(1_000), content_type="application/json"
    )
    assert answer.status_code == 400 and "nests more than" in answer.json()["detail"]


def test_ordinary_nesting_still_works(world, api_as):
    body = {
        "item": "linux-vm",
        "project": world["web_shop"].pk,
        "parameters": {"name": "web-1", "size": "small"},
    }
    answer = api_as(world["alice"]).post("/api/v1/orders/quote/", body, format="json")
    assert answer.status_code == 200, answer.content


# --- negative thresholds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"auto_approve_below": "-1.00"}, "auto_approve_below"),
        ({"min_monthly_cost": "-5.00"}, "min_monthly_cost"),
        ({"max_monthly_cost": "-5.00"}, "max_monthly_cost"),
        (
            {"stages": [{"name": "M", "role": "project_manager", "skip_at_or_below": "-1"}]},
            "stages",
        ),
    ],
)
def test_a_policy_with_a_negative_threshold_is_refused(world, api_as, change, field):
    body = {"name": "Negative", "stages": [{"name": "M", "role": "project_manager"}], **change}
    answer = api_as(world["admin"]).post("/api/v1/policies/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()


@pytest.mark.parametrize("field", ["max_servers", "max_vcpus", "max_ram_gb", "max_monthly_cost"])
def test_a_negative_quota_is_refused(world, api_as, field):
    path = f"/api/v1/projects/{world['web_shop'].pk}/quota/"
    answer = api_as(world["admin"]).patch(path, {field: -1}, format="json")
    assert answer.status_code == 400 and field in answer.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cpu_below_percent": -1}, "cpu_below_percent"),
        ({"cpu_below_percent": 101}, "cpu_below_percent"),
        ({"network_below_kbps": -0.5}, "network_below_kbps"),
        ({"window": "-1 00:00:00"}, "window"),
        ({"window": "00:00:00"}, "window"),
        ({"stop_after": "-2 00:00:00"}, "stop_after"),
    ],
)
def test_an_idle_policy_with_a_negative_threshold_is_refused(world, api_as, change, field):
    body = {"name": "Idle", "project": world["web_shop"].pk, "window": "1 00:00:00", **change}
    answer = api_as(world["admin"]).post("/api/v1/idle-policies/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()


def test_a_negative_budget_is_refused(world):
    budget = Budget(
        organization=world["web_shop"].organization,
        project=world["web_shop"],
        monthly_amount=Decimal("-10"),
    )
    with pytest.raises(ValidationError) as refused:
        budget.full_clean()  # what the admin's form runs
    assert "monthly_amount" in refused.value.message_dict


def test_a_zero_wait_is_fine(world, api_as):
    body = {"name": "Idle", "project": world["web_shop"].pk, "window": "01:00:00"}
    answer = api_as(world["admin"]).post(
        "/api/v1/idle-policies/", {**body, "notify_after": str(timedelta(0))}, format="json"
    )
    assert answer.status_code == 201, answer.content


# --- query parameters ------------------------------------------------------------------------


def _list_operations() -> list[tuple[str, list[dict]]]:
    """Every paginated list in the API schema (no path parameters), with its query parameters."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    lists = []
    for path, methods in schema["paths"].items():
        operation = methods.get("get")
        if operation is None or "{" in path:
            continue
        parameters = [p for p in operation.get("parameters", []) if p["in"] == "query"]
        if any(p["name"] == "page" for p in parameters):
            lists.append((path, parameters))
    return lists


LISTS = _list_operations()


def test_the_schema_has_the_lists():
    paths = [path for path, _ in LISTS]
    assert "/api/v1/orders/" in paths and "/api/v1/resources/" in paths and len(paths) > 10


@pytest.mark.parametrize(("path", "parameters"), LISTS, ids=[path for path, _ in LISTS])
def test_every_list_refuses_bad_query_parameters(world, api_as, path, parameters):
    api = api_as(world["admin"])  # staff: every list answers
    for page in ("abc", "0", "9999"):
        answer = api.get(path, {"page": page})
        assert answer.status_code == 400 and "page" in answer.json(), (page, answer.content)
    for parameter in parameters:
        name, schema = parameter["name"], parameter["schema"]
        if name == "page":
            continue
        if "enum" in schema:
            bad = "no-such-choice"
        elif schema.get("type") == "integer":
            bad = "abc"
        elif schema.get("type") == "boolean":
            bad = "maybe"
        else:
            bad = None
        if bad is None:
            continue  # free text: any value is a value
        answer = api.get(path, {name: bad})
        assert answer.status_code == 400 and name in answer.json(), (name, answer.content)
        as_object = api.get(f"{path}?{name}[id]=1")
        assert as_object.status_code == 400 and name in as_object.json(), (name, as_object.content)


def test_a_good_page_and_filter_still_work(world, api_as):
    answer = api_as(world["alice"]).get("/api/v1/orders/", {"page": 1, "status": "completed"})
    assert answer.status_code == 200
