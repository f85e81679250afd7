"""Chargeback reports: totals equal the usage rows, and each person sees only what they may."""

from decimal import Decimal

import pytest

from billing.models import Usage
from billing.selectors.chargeback import chargeback_report
from billing.selectors.periods import month_period
from billing.tests.helpers import T0, october_usage, usage_total

pytestmark = pytest.mark.django_db


OCTOBER = month_period(T0.date())


def test_report_total_equals_the_sum_of_usage_rows(world):
    october_usage(world)
    for group_by in ["organization", "project", "cost_center", "user", "kind", "resource"]:
        report = chargeback_report(user=world["carol"], period=OCTOBER, group_by=group_by)
        assert report.total == usage_total(Usage.objects.all()), group_by
        assert sum(row.cost for row in report.rows) == report.total
    by_project = chargeback_report(user=world["carol"], period=OCTOBER, group_by="project")
    assert {row.label: row.cost for row in by_project.rows} == {
        "web-shop": usage_total(Usage.objects.filter(project=world["web_shop"])),
        "data-lab": usage_total(Usage.objects.filter(project=world["data_lab"])),
    }
    # web-shop: 10 h small server at 0.02 + 10 h of 100 GB at 0.10/GB-month (0.013699/h);
    # data-lab: 5 h medium server at 0.04, then stopped (no storage rate): nothing.
    assert {row.label: row.cost for row in by_project.rows} == {
        "web-shop": Decimal("0.34"),
        "data-lab": Decimal("0.20"),
    }


def test_who_sees_which_costs(world):
    usage = october_usage(world)

    def labels(user, group_by="resource"):
        report = chargeback_report(user=world[user], period=OCTOBER, group_by=group_by)
        return {row.label for row in report.rows}

    names = {key: resource.name for key, resource in usage.items()}
    assert labels("carol") == set(names.values())  # finance: the whole organization
    assert labels("bob") == {names["alice_vm"], names["bob_disk"]}  # manager: web-shop
    assert labels("alice") == {names["alice_vm"]}  # member: her own usage
    assert labels("dave") == {names["dave_vm"]}
    assert labels("dave", "project") == {"data-lab"}


def test_a_month_outside_the_usage_is_empty(world):
    october_usage(world)
    report = chargeback_report(
        user=world["carol"], period=month_period(T0.date().replace(month=9)), group_by="project"
    )
    assert (report.total, report.rows) == (Decimal("0.00"), [])
