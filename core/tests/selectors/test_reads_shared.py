"""reads_shared: a page that gathers many selectors asks each visibility question once."""

import pytest
from django.db.models import QuerySet

from core.models import Project
from core.selectors import head_and_count, project_ids, reads_shared, shared_read
from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_inside_reads_shared_project_ids_are_a_list_read_once(django_assert_num_queries):
    alice, dave = UserFactory(), UserFactory()
    acme = OrganizationFactory()
    web_shop = ProjectFactory(organization=acme, members=[alice])
    data_lab = ProjectFactory(organization=acme, members=[dave])
    assert isinstance(project_ids(user=alice, perm="view_project"), QuerySet)
    with reads_shared():
        with django_assert_num_queries(1):
            first = project_ids(user=alice, perm="view_project")
            again = project_ids(user=alice, perm="view_project")
        assert first == again == [web_shop.pk]
        assert project_ids(user=dave, perm="view_project") == [data_lab.pk]
    assert isinstance(project_ids(user=alice, perm="view_project"), QuerySet)  # gone after


def test_shared_read_reads_every_time_outside_the_block():
    calls = []

    def read():
        calls.append(1)
        return len(calls)

    assert (shared_read(("k",), read), shared_read(("k",), read)) == (1, 2)
    with reads_shared():
        assert (shared_read(("k",), read), shared_read(("k",), read)) == (3, 3)


def test_head_and_count_counts_only_when_the_head_is_full(django_assert_num_queries):
    ProjectFactory.create_batch(3)
    projects = Project.objects.order_by("pk")
    total = projects.count()
    with django_assert_num_queries(1):
        head, count = head_and_count(projects, total + 1)
    assert (len(head), count) == (total, total)
    with django_assert_num_queries(2):
        head, count = head_and_count(projects, 1)
    assert (len(head), count) == (1, total)
