"""The ground's models moved from `portal` to `core` (step 3 of 4, see portal 0005): this app's
foreign keys name core's models. State only: the tables were renamed in place, so the database's
foreign keys already point at them (PostgreSQL follows a rename, SQLite rewrites the reference),
and re-creating them would rebuild tables (SQLite) or re-check every row (PostgreSQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0008_change_orders'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='catalogitem',
                    name='organizations',
                    field=models.ManyToManyField(blank=True, related_name='entitled_items', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='catalogitem',
                    name='projects',
                    field=models.ManyToManyField(blank=True, related_name='entitled_items', to='core.project'),
                ),
                migrations.AlterField(
                    model_name='order',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='core.project'),
                ),
            ],
        ),
    ]
