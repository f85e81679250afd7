"""Close a month's cost center statements: `manage.py close_statements --month 2026-10`."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.services.statements import statements_close


class Command(BaseCommand):
    help = "Close the statements of a month that has ended (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--month", required=True, type=lambda v: datetime.strptime(v, "%Y-%m").date()
        )

    def handle(self, *args, month, **options) -> None:
        try:
            statements = statements_close(month=month)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        for statement in statements:
            self.stdout.write(f"{statement}: {statement.total} {statement.currency}")
        self.stdout.write(f"Closed {len(statements)} statements for {month:%Y-%m}.")
