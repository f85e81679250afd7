"""Chargeback reports: totals equal the usage rows, and each person sees only what they may."""

import csv
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum

from billing import tasks
from billing.models import Usage
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.services import exports
from billing.services.metering import meter_range
from billing.tests.helpers import T0, at, event, make_resource
from core.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage(demo) -> dict:
    """Ten metered hours of October: alice's and bob's resources in web-shop, dave's in data-lab."""
    resources = {
        "alice_vm": make_resource(demo, size="small"),
        "bob_disk": make_resource(demo, kind="volume", user="bob", size_gb=100),
        "dave_vm": make_resource(demo, user="dave", project="data_lab", size="medium"),
    }
    event(resources["alice_vm"], "created", at(0), size="small")
    event(resources["bob_disk"], "created", at(0), quantity=Decimal("100"))
    event(resources["dave_vm"], "created", at(0), size="medium")
    event(resources["dave_vm"], "stopped", at(5))
    meter_range(start=T0, end=at(10))
    return resources


def _total(rows) -> Decimal:
    return rows.aggregate(total=Sum("cost"))["total"].quantize(Decimal("0.01"))


OCTOBER = month_period(T0.date())


def test_report_total_equals_the_sum_of_usage_rows(demo, usage):
    for group_by in ["organization", "project", "cost_center", "user", "kind", "resource"]:
        report = chargeback_report(user=demo["carol"], period=OCTOBER, group_by=group_by)
        assert report.total == _total(Usage.objects.all()), group_by
        assert sum(row.cost for row in report.rows) == report.total
    by_project = chargeback_report(user=demo["carol"], period=OCTOBER, group_by="project")
    assert {row.label: row.cost for row in by_project.rows} == {
        "web-shop": _total(Usage.objects.filter(project=demo["web_shop"])),
        "data-lab": _total(Usage.objects.filter(project=demo["data_lab"])),
    }
    # web-shop: 10 h small server at 0.02 + 10 h of 100 GB at 0.10/GB-month (0.013699/h);
    # data-lab: 5 h medium server at 0.04, then stopped (no storage rate): nothing.
    assert {row.label: row.cost for row in by_project.rows} == {
        "web-shop": Decimal("0.34"),
        "data-lab": Decimal("0.20"),
    }


def test_who_sees_which_costs(demo, usage):
    def labels(user, group_by="resource"):
        report = chargeback_report(user=demo[user], period=OCTOBER, group_by=group_by)
        return {row.label for row in report.rows}

    names = {key: resource.name for key, resource in usage.items()}
    assert labels("carol") == set(names.values())  # finance: the whole organization
    assert labels("bob") == {names["alice_vm"], names["bob_disk"]}  # manager: web-shop
    assert labels("alice") == {names["alice_vm"]}  # member: her own usage
    assert labels("dave") == {names["dave_vm"]}
    assert labels("dave", "project") == {"data-lab"}


def test_a_month_outside_the_usage_is_empty(demo, usage):
    report = chargeback_report(
        user=demo["carol"], period=month_period(T0.date().replace(month=9)), group_by="project"
    )
    assert (report.total, report.rows) == (Decimal("0.00"), [])


def test_api_answers_the_documented_shape(demo, usage, api_as):
    answer = api_as(demo["carol"]).get("/api/v1/chargeback/?period=2026-10&group_by=project")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) >= {"period", "group_by", "currency", "total", "rows"}
    assert (body["period"], body["group_by"], body["currency"]) == ("2026-10", "project", "USD")
    assert Decimal(body["total"]) == _total(Usage.objects.all())
    assert {row["label"] for row in body["rows"]} == {"web-shop", "data-lab"}
    assert set(body["rows"][0]) >= {"key", "label", "cost", "quantity"}
    assert body["drill_down"] == "resource"


def test_api_drill_down_narrows_to_a_project(demo, usage, api_as):
    project = demo["web_shop"].pk
    answer = api_as(demo["carol"]).get(
        f"/api/v1/chargeback/?start=2026-10-05&end=2026-10-05&group_by=resource&project={project}"
    )
    assert answer.status_code == 200
    assert Decimal(answer.json()["total"]) == _total(Usage.objects.filter(project=project))
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
def test_api_bad_queries_are_400_per_field(demo, api_as, query, field):
    answer = api_as(demo["carol"]).get(f"/api/v1/chargeback/?{query}")
    assert answer.status_code == 400
    assert field in answer.json()


def test_html_report_charts_and_drills_down_to_the_events(demo, usage, client):
    client.force_login(demo["carol"])
    page = client.get("/costs/?period=2026-10&group_by=project")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "web-shop" in html and "data-lab" in html
    drill = f"project={demo['web_shop'].pk}"
    assert drill in html
    resources = client.get(f"/costs/?period=2026-10&group_by=resource&{drill}")
    assert usage["alice_vm"].name in resources.content.decode()
    detail = client.get(f"/costs/resources/{usage['dave_vm'].pk}/?period=2026-10")
    assert detail.status_code == 200
    assert "stopped" in detail.content.decode()


def test_html_resource_costs_are_private(demo, usage, client):
    client.force_login(demo["alice"])
    assert client.get(f"/costs/resources/{usage['dave_vm'].pk}/?period=2026-10").status_code == 404
    assert client.get(f"/costs/resources/{usage['alice_vm'].pk}/?period=2026-10").status_code == 200


def test_summary_csv_has_the_report_rows_and_total(demo, usage, client):
    client.force_login(demo["carol"])
    response = client.get("/costs/export.csv?period=2026-10&group_by=project")
    header, *rows, total = list(csv.reader(io.StringIO(response.content.decode())))
    assert header[:2] == ["Project", "Cost (USD)"]
    assert {row[0]: Decimal(row[1]) for row in rows} == {
        "web-shop": _total(Usage.objects.filter(project=demo["web_shop"])),
        "data-lab": _total(Usage.objects.filter(project=demo["data_lab"])),
    }
    assert total[:2] == ["Total", str(_total(Usage.objects.all()))]
    by_resource = client.get("/costs/export.csv?period=2026-10&group_by=resource&page_size=1")
    assert len(by_resource.content.decode().splitlines()) == 1 + 3 + 1  # every page


def test_raw_hours_are_written_in_the_background_for_their_reader(
    demo, usage, client, django_capture_on_commit_callbacks, monkeypatch, tmp_path
):
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)
    sent = []
    monkeypatch.setattr(
        exports.current_app, "send_task", lambda name, kwargs: sent.append((name, kwargs))
    )
    client.force_login(demo["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/costs/exports/?period=2026-10", follow=True)
    assert "being prepared" in page.content.decode()
    ((name, kwargs),) = sent
    assert name == "billing.tasks.usage_export"
    tasks.usage_export(**kwargs)  # what the worker runs
    (notice,) = Notification.objects.filter(user=demo["bob"], subject__contains="ready")
    response = client.get(notice.url)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    web_shop = Usage.objects.filter(project=demo["web_shop"])
    assert len(rows) == web_shop.count()
    assert sum(Decimal(row["Cost"]) for row in rows) == web_shop.aggregate(t=Sum("cost"))["t"]
    client.force_login(demo["carol"])  # somebody else's file
    assert client.get(notice.url).status_code == 404


def test_by_resource_comes_a_page_at_a_time(demo, usage, api_as):
    client = api_as(demo["carol"])
    first = client.get("/api/v1/chargeback/?period=2026-10&group_by=resource&page_size=2").data
    second = client.get(
        "/api/v1/chargeback/?period=2026-10&group_by=resource&page_size=2&page=2"
    ).data
    assert (first["count"], first["pages"], len(first["rows"]), len(second["rows"])) == (3, 2, 2, 1)
    costs = [Decimal(row["cost"]) for row in first["rows"] + second["rows"]]
    assert costs == sorted(costs, reverse=True)
    assert first["total"] == second["total"] == str(_total(Usage.objects.all()))


def test_chargeback_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/chargeback/" in schema and "group_by" in schema
