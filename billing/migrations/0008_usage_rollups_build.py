"""Build the usage rollups from the usage rows metered before they existed."""

from django.db import migrations

# The service builds them with set-based SQL (one INSERT … SELECT per day and month) on the
# tables as 0006 left them; the ORM's historical models would add nothing to that.
from billing.services.rollups import rollups_rebuild


def build(apps, schema_editor) -> None:
    rollups_rebuild()


class Migration(migrations.Migration):
    dependencies = [("billing", "0007_usage_rollups")]

    operations = [migrations.RunPython(build, migrations.RunPython.noop)]
