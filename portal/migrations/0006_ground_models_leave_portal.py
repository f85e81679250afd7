"""The ground's models moved from `portal` to `core`, step 4 of 4 (see portal 0005): portal, now
the shell, forgets them. State only: the tables are core's."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0005_ground_tables_become_core"),
        ("core", "0001_initial"),
        # Every foreign key to the models names core's first (step 3).
        ("approvals", "0008_ground_moves_to_core"),
        ("billing", "0006_ground_moves_to_core"),
        ("catalog", "0009_ground_moves_to_core"),
        ("identity", "0003_ground_moves_to_core"),
        ("lifecycle", "0004_ground_moves_to_core"),
        ("provisioning", "0006_ground_moves_to_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="ProjectMembership"),
                migrations.DeleteModel(name="OrganizationMembership"),
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="Notification"),
                migrations.DeleteModel(name="OutboxMessage"),
                migrations.DeleteModel(name="Project"),
                migrations.DeleteModel(name="Organization"),
            ],
        )
    ]
