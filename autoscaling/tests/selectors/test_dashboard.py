"""The dashboard's autoscaling summary is per user."""

import pytest
from django.template.loader import render_to_string

from autoscaling.selectors import dashboard_summary
from autoscaling.tests.helpers import (
    scaling_group,
)

pytestmark = pytest.mark.django_db


def test_dashboard_summary_is_per_user(shop, client):
    group = scaling_group(shop)
    summary = dashboard_summary(user=shop["alice"])
    [row] = summary["groups"]
    assert (row["group"], row["current"], row["min"], row["max"]) == (group, 1, 1, 4)
    assert row["last_activity"] is None and summary["refused_count"] == 0
    assert dashboard_summary(user=shop["dave"])["groups"] == []
    html = render_to_string("autoscaling/_dashboard.html", {"summary": summary})
    assert group.name in html
