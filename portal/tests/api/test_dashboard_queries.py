"""The dashboard's SQL queries per persona, pinned (issue 19: its cost must not grow with the
estate; `test_monitoring` checks that more rows cost no more queries)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.tests.helpers import billing_world, event, make_resource
from provisioning.models import Resource

pytestmark = pytest.mark.django_db


def test_the_dashboard_costs_a_pinned_number_of_queries(client, api_as, query_baseline):
    world = billing_world()
    for user, project in (("alice", "web_shop"), ("dave", "data_lab")):
        server = make_resource(world, user=user, project=project, size="small")
        Resource.objects.filter(pk=server.pk).update(state="active")
        event(server, "created", timezone.now() - timedelta(hours=3), size="small")
    client.force_login(world["admin"])
    client.get("/dashboard/")  # counts the rollups and warms the per-process caches
    with query_baseline("portal.dashboard_html_admin"):
        assert client.get("/dashboard/").status_code == 200
    for persona, name in (("admin", "admin"), ("carol", "finance"), ("alice", "member")):
        api = api_as(world[persona])
        assert api.get("/api/v1/dashboard/").status_code == 200
        with query_baseline(f"portal.dashboard_api_{name}"):
            assert api.get("/api/v1/dashboard/").status_code == 200
