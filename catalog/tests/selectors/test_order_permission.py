"""The order request's one-statement permission check (core.selectors.user_has_project_perm)
answers as guardian does, and is prepared again in a new database session."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from guardian.shortcuts import assign_perm

from core.selectors import user_has_project_perm


@pytest.mark.django_db(transaction=True)
def test_a_prepared_read_is_prepared_again_in_a_new_database_session(world):
    alice, web_shop = world["alice"], world["web_shop"]
    assert user_has_project_perm(user=alice, project=web_shop, perm="order_in_project")
    connection.close()  # as CONN_MAX_AGE or a failed health check does between requests
    assert user_has_project_perm(user=alice, project=web_shop, perm="order_in_project")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone() == (1,)


@pytest.mark.django_db
def test_the_order_permission_is_the_user_s_own_or_a_group_s(world):
    dave, web_shop, data_lab = world["dave"], world["web_shop"], world["data_lab"]
    assert user_has_project_perm(user=dave, project=data_lab, perm="order_in_project")
    assert not user_has_project_perm(user=dave, project=web_shop, perm="order_in_project")
    team = Group.objects.create(name="web-shop team")
    assign_perm("core.order_in_project", team, web_shop)
    assert not user_has_project_perm(user=dave, project=web_shop, perm="order_in_project")
    dave.groups.add(team)
    assert user_has_project_perm(user=dave, project=web_shop, perm="order_in_project")
    assert not user_has_project_perm(user=dave, project=web_shop, perm="approve_for_project")
    dave.is_active = False
    assert not user_has_project_perm(user=dave, project=web_shop, perm="order_in_project")
