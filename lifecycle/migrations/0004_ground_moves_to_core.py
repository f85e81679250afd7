"""The ground's models moved from `portal` to `core` (step 3 of 4, see portal 0005): this app's
foreign keys name core's models. State only: the tables were renamed in place, so the database's
foreign keys already point at them (PostgreSQL follows a rename, SQLite rewrites the reference),
and re-creating them would rebuild tables (SQLite) or re-check every row (PostgreSQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('lifecycle', '0003_lease_extensions_become_change_orders'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='idlepolicy',
                    name='organization',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='idlepolicy',
                    name='project',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.project'),
                ),
                migrations.AlterField(
                    model_name='saving',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.project'),
                ),
            ],
        ),
    ]
