"""`built(builder)`: a test world is built once per test database and copied in afterwards, with
the same rows and the builder's answer read again."""

import pytest
from django.db import connection

from core.models import Project
from core.tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

calls: list[int] = []


def small_world() -> dict:
    calls.append(1)
    alice = UserFactory(username="snapshot-alice")
    return {"alice": alice, "shop": ProjectFactory(slug="snapshot-shop", members=[alice])}


@pytest.mark.parametrize("run", [1, 2])
def test_a_world_is_built_once_and_restored_with_its_rows(built, run):
    world = built(small_world)
    assert (world["alice"].username, world["shop"].slug) == ("snapshot-alice", "snapshot-shop")
    assert world["alice"].has_perm("core.order_in_project", world["shop"])
    assert list(Project.objects.values_list("slug", flat=True)) == ["snapshot-shop"]
    if connection.vendor == "postgresql":
        assert len(calls) == 1  # the second run, whichever comes second, copied it in
