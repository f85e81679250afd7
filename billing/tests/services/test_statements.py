"""Monthly statements: one immutable statement per cost center, late usage as the next
statement's adjustment, and no closing of an unfinished month."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.utils import timezone

from billing.models import Statement, Usage
from billing.services.metering import meter_hour, meter_range
from billing.services.statements import statements_close
from billing.tests.helpers import SEPTEMBER, september_usage

pytestmark = pytest.mark.django_db


def test_closing_a_month_writes_one_immutable_statement_per_cost_center(world):
    september_usage(world)
    statements = statements_close(month=SEPTEMBER.date())
    assert {(s.cost_center, s.total) for s in statements} == {
        ("CC-100", Decimal("0.28")),  # 14 h of a small server
        ("CC-200", Decimal("0.32")),  # 4 h of a large one
    }
    september = Usage.objects.filter(hour__lt=datetime(2026, 10, 1, tzinfo=UTC))
    assert sum(s.total for s in statements) == september.aggregate(t=Sum("cost"))["t"]
    assert statements_close(month=SEPTEMBER.date()) == []  # closing again changes nothing
    assert Statement.objects.count() == 2


def test_late_usage_goes_to_the_next_statement_as_an_adjustment(world):
    september_usage(world)
    statements_close(month=SEPTEMBER.date())
    meter_hour(hour=SEPTEMBER + timedelta(hours=12))  # metered after September was closed
    october = datetime(2026, 10, 1, tzinfo=UTC)
    meter_range(start=october, end=october + timedelta(hours=2))
    (closed,) = Statement.objects.filter(cost_center="CC-100", month=SEPTEMBER.date())
    assert closed.total == Decimal("0.28")  # unchanged
    statements = statements_close(month=october.date())
    cc100 = next(s for s in statements if s.cost_center == "CC-100")
    lines = {(line.usage_month.month, line.is_adjustment, line.cost) for line in cc100.lines.all()}
    assert lines == {(9, True, Decimal("0.02")), (10, False, Decimal("0.04"))}
    assert cc100.total == Decimal("0.06")


def test_an_unfinished_month_cannot_be_closed(world):
    with pytest.raises(ValidationError):
        statements_close(month=timezone.now().date())
