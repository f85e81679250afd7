"""The resource pages: a database's page offers to reveal its password, which only its order's
requester sees."""

import pytest

from core.tests.factories import UserFactory
from provisioning.tests.helpers import database_of

pytestmark = pytest.mark.django_db


def test_a_databases_page_reveals_the_password_to_its_owner_only(client):
    owner, colleague = UserFactory(), UserFactory()
    database = database_of(owner, colleague=colleague)
    client.force_login(owner)
    detail = client.get(f"/resources/{database.pk}/").content.decode()
    assert 'data-testid="reveal-secret"' in detail
    assert database.secret["password"] not in detail
    revealed = client.get(f"/resources/{database.pk}/secret/").content.decode()
    assert database.secret["password"] in revealed
    client.force_login(colleague)
    assert client.get(f"/resources/{database.pk}/secret/").status_code == 403
