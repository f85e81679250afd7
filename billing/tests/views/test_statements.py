"""Statements download as CSV and PDF, for finance only."""

import pytest

from billing.services.statements import statements_close
from billing.tests.helpers import SEPTEMBER, september_usage

pytestmark = pytest.mark.django_db


def test_statements_download_as_csv_and_pdf_for_finance_only(world, client):
    september_usage(world)
    (statement, _) = sorted(statements_close(month=SEPTEMBER.date()), key=lambda s: s.cost_center)
    client.force_login(world["carol"])
    assert "CC-100" in client.get("/costs/statements/").content.decode()
    csv_text = client.get(f"/costs/statements/{statement.pk}.csv").content.decode()
    assert "web-shop,server" in csv_text and "total,0.28,USD" in csv_text
    pdf = client.get(f"/costs/statements/{statement.pk}.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.get(f"/costs/statements/{statement.pk}/").status_code == 200
    client.force_login(world["alice"])
    assert client.get(f"/costs/statements/{statement.pk}.pdf").status_code == 404
