"""Periods of a report: a month ("2026-11") or a range of whole days, half-open in UTC."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone


@dataclass(frozen=True)
class Period:
    """A half-open range of time [start, end) and how people call it ("2026-11")."""

    start: datetime
    end: datetime
    label: str

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_after(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_period(month: date) -> Period:
    month = month_start(month)
    return Period(_midnight(month), _midnight(month_after(month)), f"{month:%Y-%m}")


def period_parse(
    *, period: str | None = None, start: date | None = None, end: date | None = None
) -> Period:
    """A month ("2026-11") or an inclusive range of days; the current month when neither."""
    if start or end:
        if not (start and end):
            raise ValidationError({"end" if start else "start": ["Give both start and end."]})
        if end < start:
            raise ValidationError({"end": ["Must not be before start."]})
        if end >= date.max:
            raise ValidationError({"end": ["Must be before the year 9999 ends."]})
        return Period(_midnight(start), _midnight(end + timedelta(days=1)), f"{start}..{end}")
    if not period:
        return month_period(timezone.now().date())
    try:
        month = datetime.strptime(period, "%Y-%m").date()
    except ValueError:
        raise ValidationError({"period": ["Use a month as YYYY-MM, e.g. 2026-11."]}) from None
    return month_period(month)


def period_includes_now(period: Period, now: datetime) -> bool:
    return period.start <= now < period.end
