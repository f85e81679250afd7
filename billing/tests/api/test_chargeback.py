"""The chargeback and showback API: the documented shape, drill-down, errors per field, a page
at a time, what-if under a draft card; and the OpenAPI schema lists it (an order just
completed in month to date: catalog/tests/api/test_order_costs.py)."""

from decimal import Decimal

import pytest

from billing.models import Rate, RateCard, Usage
from billing.pricing import HOURS_PER_MONTH, monthly_quote
from billing.services.metering import meter_range
from billing.tests.helpers import (
    SMALL_HOURLY,
    T0,
    at,
    event,
    make_resource,
    october_usage,
    usage_total,
)

pytestmark = pytest.mark.django_db


def test_api_answers_the_documented_shape(world, api_as):
    october_usage(world)
    answer = api_as(world["carol"]).get("/api/v1/chargeback/?period=2026-10&group_by=project")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"period", "group_by", "currency", "total", "rows"}
    assert (body["period"], body["group_by"], body["currency"]) == ("2026-10", "project", "USD")
    assert Decimal(body["total"]) == usage_total(Usage.objects.all())
    assert {row["label"] for row in body["rows"]} == {"web-shop", "data-lab"}
    assert set(body["rows"][0]) >= {"key", "label", "cost", "quantity"}
    assert body["drill_down"] == "resource"


def test_api_drill_down_narrows_to_a_project(world, api_as):
    october_usage(world)
    project = world["web_shop"].pk
    answer = api_as(world["carol"]).get(
        f"/api/v1/chargeback/?start=2026-10-05&end=2026-10-05&group_by=resource&project={project}"
    )
    assert answer.status_code == 200
    assert Decimal(answer.json()["total"]) == usage_total(Usage.objects.filter(project=project))
    assert len(answer.json()["rows"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=2026-13", "period"),
        ("period=soon", "period"),
        ("group_by=planet", "group_by"),
        ("start=2026-10-05", "end"),
        ("start=2026-10-05&end=2026-10-01", "end"),
        ("project=abc", "project"),
    ],
)
def test_api_bad_queries_are_400_per_field(world, api_as, query, field):
    answer = api_as(world["carol"]).get(f"/api/v1/chargeback/?{query}")
    assert answer.status_code == 400
    assert field in answer.json()


def test_by_resource_comes_a_page_at_a_time(world, api_as):
    october_usage(world)
    client = api_as(world["carol"])
    first = client.get("/api/v1/chargeback/?period=2026-10&group_by=resource&page_size=2").data
    second = client.get(
        "/api/v1/chargeback/?period=2026-10&group_by=resource&page_size=2&page=2"
    ).data
    assert (first["count"], first["pages"], len(first["rows"]), len(second["rows"])) == (3, 2, 2, 1)
    costs = [Decimal(row["cost"]) for row in first["rows"] + second["rows"]]
    assert costs == sorted(costs, reverse=True)
    assert first["total"] == second["total"] == str(usage_total(Usage.objects.all()))


def test_chargeback_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/chargeback/" in schema and "group_by" in schema


def test_what_if_reprices_a_month_under_a_draft_without_writing(world, api_as):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(10))
    draft = RateCard.objects.create(
        name="next year", organization=world["web_shop"].organization, is_draft=True
    )
    Rate.objects.create(
        rate_card=draft, resource_kind="server", size="small", price=Decimal("0.05")
    )
    before = list(Usage.objects.values_list("cost", flat=True))
    answer = api_as(world["carol"]).get(f"/api/v1/chargeback/?period=2026-10&whatif={draft.pk}")
    assert answer.status_code == 200, answer.data
    assert answer.data["whatif_card"] == "next year"
    assert Decimal(answer.data["whatif_total"]) == 10 * Decimal("0.05")
    assert Decimal(answer.data["total"]) == 10 * SMALL_HOURLY
    assert list(Usage.objects.values_list("cost", flat=True)) == before
    # A draft prices nothing: quotes keep the live card.
    assert (
        monthly_quote(
            cloud_account_id=server.cloud_account_id,
            resources=[{"kind": "server", "properties": {"size": "small"}}],
        )
        == SMALL_HOURLY * HOURS_PER_MONTH
    )
    refused = api_as(world["alice"]).get(f"/api/v1/chargeback/?period=2026-10&whatif={draft.pk}")
    assert refused.status_code == 400 and "whatif" in refused.data


def test_showback_shows_a_member_the_whole_projects_costs(world, api_as):
    mine = make_resource(world, size="small")
    bobs = make_resource(world, user="bob", size="medium")
    for server, size in [(mine, "small"), (bobs, "medium")]:
        event(server, "created", at(0), size=size)
    meter_range(start=T0, end=at(2))
    client = api_as(world["alice"])
    charged = client.get("/api/v1/chargeback/?period=2026-10&group_by=user").data
    shown = client.get("/api/v1/showback/?period=2026-10&group_by=user").data
    assert [row["label"] for row in charged["rows"]] == ["alice"]
    assert {row["label"] for row in shown["rows"]} == {"alice", "bob"}
    finance = api_as(world["carol"]).get("/api/v1/chargeback/?period=2026-10&group_by=user").data
    assert shown["total"] == finance["total"]
