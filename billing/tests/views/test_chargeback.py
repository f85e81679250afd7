"""The cost pages: the chart drills down to a resource's events, a resource's costs are
private, the summary CSV has the report's rows under headers for people, and the raw hours
are written in the background for their reader."""

import csv
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models import Sum

from billing import tasks
from billing.models import Usage
from billing.selectors.exports import EXPORT_HEADER
from billing.services import exports
from billing.services.metering import meter_range
from billing.tests.helpers import T0, at, event, make_resource, october_usage, usage_total
from core.models import Notification

pytestmark = pytest.mark.django_db


def test_html_report_charts_and_drills_down_to_the_events(world, client):
    usage = october_usage(world)
    client.force_login(world["carol"])
    page = client.get("/costs/?period=2026-10&group_by=project")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "web-shop" in html and "data-lab" in html
    drill = f"project={world['web_shop'].pk}"
    assert drill in html
    resources = client.get(f"/costs/?period=2026-10&group_by=resource&{drill}")
    assert usage["alice_vm"].name in resources.content.decode()
    detail = client.get(f"/costs/resources/{usage['dave_vm'].pk}/?period=2026-10")
    assert detail.status_code == 200
    assert "stopped" in detail.content.decode()


def test_html_resource_costs_are_private(world, client):
    usage = october_usage(world)
    client.force_login(world["alice"])
    assert client.get(f"/costs/resources/{usage['dave_vm'].pk}/?period=2026-10").status_code == 404
    assert client.get(f"/costs/resources/{usage['alice_vm'].pk}/?period=2026-10").status_code == 200


def test_summary_csv_has_the_report_rows_and_total(world, client):
    october_usage(world)
    client.force_login(world["carol"])
    response = client.get("/costs/export.csv?period=2026-10&group_by=project")
    header, *rows, total = list(csv.reader(io.StringIO(response.content.decode())))
    assert header[:2] == ["Project", "Cost (USD)"]
    assert {row[0]: Decimal(row[1]) for row in rows} == {
        "web-shop": usage_total(Usage.objects.filter(project=world["web_shop"])),
        "data-lab": usage_total(Usage.objects.filter(project=world["data_lab"])),
    }
    assert total[:2] == ["Total", str(usage_total(Usage.objects.all()))]
    by_resource = client.get("/costs/export.csv?period=2026-10&group_by=resource&page_size=1")
    assert len(by_resource.content.decode().splitlines()) == 1 + 3 + 1  # every page


def test_raw_hours_are_written_in_the_background_for_their_reader(
    world, client, django_capture_on_commit_callbacks, monkeypatch, tmp_path
):
    october_usage(world)
    monkeypatch.setattr(settings, "VAR_DIR", tmp_path)
    sent = []
    monkeypatch.setattr(
        exports.current_app, "send_task", lambda name, kwargs: sent.append((name, kwargs))
    )
    client.force_login(world["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post("/costs/exports/?period=2026-10", follow=True)
    assert "being prepared" in page.content.decode()
    ((name, kwargs),) = sent
    assert name == "billing.tasks.usage_export"
    tasks.usage_export(**kwargs)  # what the worker runs
    (notice,) = Notification.objects.filter(user=world["bob"], subject__contains="ready")
    response = client.get(notice.url)
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    web_shop = Usage.objects.filter(project=world["web_shop"])
    assert len(rows) == web_shop.count()
    assert sum(Decimal(row["Cost"]) for row in rows) == web_shop.aggregate(t=Sum("cost"))["t"]
    client.force_login(world["carol"])  # somebody else's file
    assert client.get(notice.url).status_code == 404


def test_csv_headers_and_group_labels_are_for_people(world, client):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    meter_range(start=T0, end=at(1))
    client.force_login(world["carol"])
    response = client.get("/costs/export.csv?period=2026-10&group_by=cost_center")
    header = next(csv.reader(io.StringIO(response.content.decode())))
    assert header[:2] == ["Cost center", "Cost (USD)"]
    assert "Resource" in EXPORT_HEADER and "Cost center" in EXPORT_HEADER  # the raw hours'
    assert not any("__" in column or "_" in column for column in header + EXPORT_HEADER)
    page = client.get("/costs/?period=2026-10&group_by=cost_center").content.decode()
    assert "Cost center" in page and "Cost_center" not in page
