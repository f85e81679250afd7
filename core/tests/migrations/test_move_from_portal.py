"""The ground's models moved from `portal` to `core` (portal 0005 … portal 0006). Production
databases hold their rows: a database migrated back to before the move is filled as the old code
filled it, migrated forward, and keeps every row, every object permission and every foreign key."""

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.models import AuditEvent, Project, ProjectMembership
from core.selectors import project_list, user_has_project_perm

# The last migration before the move: going back to it unapplies the move in every app.
BEFORE_THE_MOVE = [("portal", "0004_outbox_message")]
MOVED = [
    "organization",
    "project",
    "projectmembership",
    "organizationmembership",
    "auditevent",
    "notification",
    "outboxmessage",
]


@pytest.fixture
def before_the_move(transactional_db) -> Iterator:
    """The database as the old code left it (tables portal_*, content types under "portal"),
    with the models of that moment; migrated forward again afterwards, whatever the test did."""
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_THE_MOVE)
    executor.loader.build_graph()
    try:
        yield executor.loader.project_state(list(executor.loader.applied_migrations)).apps
    finally:
        _migrate_to_the_end()


def _migrate_to_the_end() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()


def test_rows_and_object_permissions_survive_the_move(before_the_move):
    old = before_the_move
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    assert {"portal_project", "portal_auditevent"} <= tables
    assert not {"core_project", "core_auditevent"} & tables

    # What the old code wrote: a person, a project with a membership, the guardian permission
    # the membership granted (under the "portal" content type) and an audit event.
    content_type = old.get_model("contenttypes", "ContentType").objects.get(
        app_label="portal", model="project"
    )
    order_in_project = old.get_model("auth", "Permission").objects.get(
        content_type=content_type, codename="order_in_project"
    )
    user = old.get_model("auth", "User").objects.create(username="ursula")
    organization = old.get_model("portal", "Organization").objects.create(name="Acme", slug="acme")
    project = old.get_model("portal", "Project").objects.create(
        organization=organization, name="Web shop", slug="web-shop", cost_center="CC-1"
    )
    old.get_model("portal", "ProjectMembership").objects.create(
        user=user, project=project, role="member"
    )
    old.get_model("guardian", "UserObjectPermission").objects.create(
        user=user, permission=order_in_project, content_type=content_type, object_pk=project.pk
    )
    old.get_model("portal", "AuditEvent").objects.create(
        actor=user, action="project.joined", target_type="portal.project", target_id=project.pk
    )

    _migrate_to_the_end()

    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
        order_keys = connection.introspection.get_constraints(cursor, "catalog_order")
    assert not {f"portal_{model}" for model in MOVED} & tables
    assert {f"core_{model}" for model in MOVED} <= tables
    # The database's foreign keys followed the renamed table (repointed in state only).
    assert ("core_project", "id") in [key["foreign_key"] for key in order_keys.values()]
    assert set(ContentType.objects.filter(model__in=MOVED).values_list("app_label", flat=True)) == {
        "core"
    }

    moved = Project.objects.select_related("organization").get(pk=project.pk)
    assert (moved.name, moved.organization.slug) == ("Web shop", "acme")
    assert ProjectMembership.objects.filter(user_id=user.pk, project=moved, role="member").exists()
    event = AuditEvent.objects.get(action="project.joined")
    assert (event.actor_id, event.target_id) == (user.pk, str(project.pk))

    ursula = User.objects.get(pk=user.pk)
    assert ursula.has_perm("core.order_in_project", moved)
    assert not ursula.has_perm("core.approve_for_project", moved)
    assert user_has_project_perm(user=ursula, project=moved, perm="order_in_project")
    assert list(project_list(user=ursula, perm="order_in_project")) == [moved]
