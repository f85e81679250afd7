"""Write the catalog as YAML, in the format catalog_load reads, so admins can keep it in git."""

from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandParser

from catalog.selectors.menu import catalog_export


class Command(BaseCommand):
    help = "Export catalog categories and items (with entitlements) as YAML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    def handle(self, *args, output: Path | None, **options) -> None:
        text = yaml.safe_dump(
            catalog_export(), sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        if output:
            output.write_text(text)
        else:
            self.stdout.write(text, ending="")
