"""The resource pages: a database's page offers to reveal its password, which only its order's
requester sees."""

import pytest

from core.tests.factories import ProjectFactory, UserFactory
from provisioning.tests.plans import database_plan
from provisioning.tests.saga import deployed_order

pytestmark = pytest.mark.django_db


def test_a_databases_page_reveals_the_password_to_its_owner_only(client):
    owner, colleague = UserFactory(), UserFactory()
    order = deployed_order(
        resources=database_plan(name="orders"),
        project=ProjectFactory(members=[owner], managers=[colleague]),
        requester=owner,
    )
    database = order.resources.get(kind="database")
    client.force_login(owner)
    detail = client.get(f"/resources/{database.pk}/").content.decode()
    assert 'data-testid="reveal-secret"' in detail
    assert database.secret["password"] not in detail
    revealed = client.get(f"/resources/{database.pk}/secret/").content.decode()
    assert database.secret["password"] in revealed
    client.force_login(colleague)
    assert client.get(f"/resources/{database.pk}/secret/").status_code == 403
