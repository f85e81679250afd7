"""Load the directory-group → role mapping from YAML (see identity/directory_roles.example.yaml)."""

from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from identity.services import directory_role_mappings_replace


class Command(BaseCommand):
    help = "Replace the directory group → role mapping with the `roles:` list of a YAML file."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options) -> None:
        try:
            document = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise CommandError(f"{file}: {error}") from error
        entries = (document or {}).get("roles") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise CommandError(f"{file}: expected a `roles:` list")
        try:
            mappings = directory_role_mappings_replace(entries=entries)
        except ValidationError as error:
            raise CommandError("\n".join([f"{file}:", *error.messages])) from error
        self.stdout.write(f"{len(mappings)} group → role mappings loaded from {file}")
