"""A database's generated password through the API: its order's requester alone reads it, and
the resource itself never shows it."""

import pytest

from core.tests.factories import UserFactory
from provisioning.tests.helpers import database_of

pytestmark = pytest.mark.django_db


def test_a_databases_password_is_shown_to_its_owner_only(api_as):
    owner, colleague = UserFactory(), UserFactory()
    database = database_of(owner, colleague=colleague)
    password = database.secret["password"]
    url = f"/api/v1/resources/{database.pk}/secret/"
    assert api_as(owner).get(url).data["password"] == password
    assert api_as(colleague).get(url).status_code == 404
    assert password not in str(api_as(owner).get(f"/api/v1/resources/{database.pk}/").data)
