"""The quota API: a project's members read its quota, staff and the organization's admins set
its limits; the quotas list shows those of the caller's projects."""

import pytest

from approvals.tests.factories import QuotaFactory
from core.tests.factories import ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_quota_api_read_and_patch(api_as):
    alice, dave = UserFactory(username="alice"), UserFactory(username="dave")
    web_shop = ProjectFactory(members=[alice])
    ProjectFactory(organization=web_shop.organization, members=[dave])  # dave's data-lab
    QuotaFactory(project=web_shop)
    url = f"/api/v1/projects/{web_shop.pk}/quota/"
    assert api_as(alice).patch(url, {"max_servers": 3}, format="json").status_code == 403
    assert api_as(dave).get(url).status_code == 404  # not his project
    admin = api_as(UserFactory(username="admin", is_staff=True, is_superuser=True))
    answer = admin.patch(url, {"max_servers": 3, "max_monthly_cost": None}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["max_servers"] == 3 and answer.json()["max_monthly_cost"] is None
    assert admin.patch(url, {"max_servers": -1}, format="json").status_code == 400
    listed = api_as(alice).get("/api/v1/quotas/").json()["results"]
    assert [q["max_servers"] for q in listed if q["project"] == web_shop.pk] == [3]
