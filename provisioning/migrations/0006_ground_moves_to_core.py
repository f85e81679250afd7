"""The ground's models moved from `portal` to `core` (step 3 of 4, see portal 0005): this app's
foreign keys name core's models. State only: the tables were renamed in place, so the database's
foreign keys already point at them (PostgreSQL follows a rename, SQLite rewrites the reference),
and re-creating them would rebuild tables (SQLite) or re-check every row (PostgreSQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0001_initial'),
        ('provisioning', '0005_merge_0004_change_orders_0004_drift_and_adoption'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='cloudaccount',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='cloudaccount',
                    name='projects',
                    field=models.ManyToManyField(blank=True, related_name='cloud_accounts', to='core.project'),
                ),
                migrations.AlterField(
                    model_name='driftpolicy',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='resource',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='resources', to='core.project'),
                ),
            ],
        ),
    ]
