"""A user who sees no project: the dashboard's shared reads are empty lists, and every panel
answers empty rather than failing or showing anybody else's."""

import pytest
from django.contrib.auth.models import User

from billing.tests.helpers import billing_world, make_resource

pytestmark = pytest.mark.django_db


def test_a_user_who_sees_no_project_gets_an_empty_dashboard(api_as):
    make_resource(billing_world(), size="small")  # alice's server in web-shop
    nobody = User.objects.create_user("nobody", password="not-used-here")
    answer = api_as(nobody).get("/api/v1/dashboard/")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["resources"]["total"], body["orders"]["total"]) == (0, 0)
    assert (body["approvals"]["mine"], body["approvals"]["total"]) == (0, 0)
    assert body["spend"]["total"] == "0.00" and body["spend"]["by_project"] == []
    assert body["spend"]["running_at"] and body["failures"] == []
    assert body["autoscaling"]["groups"] == [] and body["drift"]["open"] == 0
