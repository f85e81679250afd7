"""The ground's models move from `portal` (now the shell) to the new `core` app, step 1 of 4:
their tables take core's names. No row is copied; on PostgreSQL and SQLite a rename keeps the
rows, the indexes and the foreign keys that point at the table.

  1. portal 0005 (this): rename the tables portal_* → core_*;
  2. core 0001: core takes the models into its state (no SQL) and the content types follow,
     so permissions and django-guardian's object permissions stay attached;
  3. every app with a foreign key to them points it at core.<model>;
  4. portal 0006: portal forgets the models (no SQL).

It runs after every migration that existed before the move (the dependencies below), so none of
them ever meets the models half-moved (approvals 0004 reads the portal content type)."""

from django.db import migrations

MOVED = [
    "organization",
    "project",
    "projectmembership",
    "organizationmembership",
    "auditevent",
    "notification",
    "outboxmessage",
]


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_outbox_message"),
        ("approvals", "0007_change_orders"),
        ("autoscaling", "0002_scaling_policies_plural"),
        ("billing", "0005_merge_20261202_0353"),
        ("catalog", "0008_change_orders"),
        ("identity", "0002_tokens_from_drf"),
        ("lifecycle", "0003_lease_extensions_become_change_orders"),
        ("provisioning", "0005_merge_0004_change_orders_0004_drift_and_adoption"),
    ]

    operations = [migrations.AlterModelTable(name=name, table=f"core_{name}") for name in MOVED]
