"""The ground's models moved from `portal` to `core` (step 3 of 4, see portal 0005): this app's
foreign keys name core's models. State only: the tables were renamed in place, so the database's
foreign keys already point at them (PostgreSQL follows a rename, SQLite rewrites the reference),
and re-creating them would rebuild tables (SQLite) or re-check every row (PostgreSQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0005_merge_20261202_0353'),
        ('core', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='billingprofile',
                    name='organization',
                    field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='billing_profile', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='budget',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='budget',
                    name='project',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='budgets', to='core.project'),
                ),
                migrations.AlterField(
                    model_name='ratecard',
                    name='organization',
                    field=models.ForeignKey(blank=True, help_text="with no cloud account: the organization's default card", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='rate_cards', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='statement',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='statementline',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.project'),
                ),
                migrations.AlterField(
                    model_name='usage',
                    name='organization',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='core.organization'),
                ),
                migrations.AlterField(
                    model_name='usage',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='usage', to='core.project'),
                ),
            ],
        ),
    ]
