"""Backfill usage rows: `manage.py meter --from 2026-11-01 --to 2026-11-02T12:00`."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.services.metering import meter_range


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Meter every clock hour from --from (inclusive) to --to (exclusive); UTC unless given."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", type=_moment, required=True)
        parser.add_argument("--to", dest="end", type=_moment, required=True)

    def handle(self, *args, start: datetime, end: datetime, **options) -> None:
        try:
            rows = meter_range(start=start, end=end)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        hours = int((end - start).total_seconds() // 3600)
        self.stdout.write(f"Metered {hours} hours: {rows} usage rows.")
