"""Load a catalog YAML file (categories, items, entitlements); running it again changes nothing."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.services import catalog_load_yaml


class Command(BaseCommand):
    help = "Create or update catalog categories and items from a YAML file (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="e.g. catalog/default_catalog.yaml")

    def handle(self, *args, file: Path, **options) -> None:
        try:
            text = file.read_text()
        except OSError as error:
            raise CommandError(f"{file}: {error.strerror}") from error
        try:
            counts = catalog_load_yaml(text=text)
        except ValidationError as error:
            raise CommandError(
                f"{file} was not loaded:\n" + "\n".join(f"  - {m}" for m in error.messages)
            ) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog loaded from {file}: {counts['categories']} categories, "
                f"{counts['items']} items."
            )
        )
