"""The ground's models move from `portal` to `core`, step 2 of 4 (see portal 0005).

The tables are already core's (portal 0005 renamed them), so core takes the models into its
migration state without any SQL. Then the content types follow: a permission, django-guardian's
object permission (UserObjectPermission, GroupObjectPermission) and the admin's log point at a
content type row, not at an app label, so renaming the rows portal → core keeps every grant
("core.order_in_project" answers what "portal.order_in_project" answered)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = [
    "organization",
    "project",
    "projectmembership",
    "organizationmembership",
    "auditevent",
    "notification",
    "outboxmessage",
]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        moving = ContentType.objects.filter(app_label=old, model=model).first()
        if moving is None:
            continue  # a database migrated from scratch: content types are made after migrate
        # A row under the new label can only be one that post_migrate made for the empty app,
        # holding no grant: the moving row, with the grants, takes its place.
        ContentType.objects.filter(app_label=new, model=model).delete()
        moving.app_label = new
        moving.save(update_fields=["app_label"])
    # This process's cache still maps the models to the old rows.
    from django.contrib.contenttypes.models import ContentType as CachedContentType

    CachedContentType.objects.clear_cache()


def content_types_to_core(apps, schema_editor) -> None:
    _relabel(apps, "portal", "core")


def content_types_to_portal(apps, schema_editor) -> None:
    _relabel(apps, "core", "portal")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("portal", "0005_ground_tables_become_core"),
        ("catalog", "0008_change_orders"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Organization",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=120, unique=True)),
                        ("slug", models.SlugField(max_length=120, unique=True)),
                    ],
                ),
                migrations.CreateModel(
                    name="Project",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("name", models.CharField(max_length=120)),
                        ("slug", models.SlugField(max_length=120)),
                        ("cost_center", models.CharField(max_length=40)),
                        ("organization", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="projects", to="core.organization")),
                    ],
                    options={
                        "permissions": [
                            ("order_in_project", "Can order catalog items for the project"),
                            ("approve_for_project", "Can approve orders of the project"),
                            ("view_project_costs", "Can read the project's costs"),
                        ],
                        "constraints": [models.UniqueConstraint(fields=("organization", "slug"), name="project_slug_per_org")],
                    },
                ),
                migrations.CreateModel(
                    name="ProjectMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("role", models.CharField(choices=[("member", "Member"), ("manager", "Manager")], max_length=16)),
                        ("from_directory", models.BooleanField(default=False)),
                        ("project", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="core.project")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "constraints": [models.UniqueConstraint(fields=("user", "project"), name="one_role_per_project")],
                    },
                ),
                migrations.CreateModel(
                    name="OrganizationMembership",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("role", models.CharField(choices=[("finance", "Finance"), ("admin", "Organization admin")], max_length=16)),
                        ("from_directory", models.BooleanField(default=False)),
                        ("organization", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="memberships", to="core.organization")),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "constraints": [models.UniqueConstraint(fields=("user", "organization", "role"), name="one_org_role_per_user")],
                    },
                ),
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("action", models.CharField(max_length=64)),
                        ("target_type", models.CharField(blank=True, max_length=64)),
                        ("target_id", models.CharField(blank=True, max_length=64)),
                        ("from_state", models.CharField(blank=True, max_length=32)),
                        ("to_state", models.CharField(blank=True, max_length=32)),
                        ("message", models.TextField(blank=True)),
                        ("credential", models.CharField(blank=True, max_length=200)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                        ("order", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="events", to="catalog.order")),
                    ],
                    options={"ordering": ["created_at", "id"]},
                ),
                migrations.CreateModel(
                    name="Notification",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("subject", models.CharField(max_length=200)),
                        ("body", models.TextField(blank=True)),
                        ("url", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("read_at", models.DateTimeField(blank=True, null=True)),
                        ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="notifications", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "indexes": [models.Index(fields=["user", "read_at"], name="notification_unread")],
                    },
                ),
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("task", models.CharField(max_length=200)),
                        ("args", models.JSONField(default=list)),
                        ("countdown", models.FloatField(default=0)),
                        ("created_at", models.DateTimeField(db_index=True)),
                    ],
                    options={"ordering": ["id"]},
                ),
            ],
        ),
        migrations.RunPython(content_types_to_core, content_types_to_portal),
    ]
