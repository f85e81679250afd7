"""An order's page shows its deployment's steps; destroying it from the page is a destroy order
which, holding a database, waits for the project's manager."""

import pytest

from approvals.services.deciding import approval_decide
from catalog.models import Order
from catalog.tests.saga import admit_and_deploy, approved_order, deploy_approved, run_queued
from provisioning.models import SandboxObject
from provisioning.services.saga import deployment_start

pytestmark = pytest.mark.django_db


def test_the_order_page_shows_the_steps_and_destroys_through_an_approval(world, client):
    order = approved_order(world, "postgresql-db", name="orders", db_name="orders")
    deployment_start(order=order)
    run_queued()
    client.force_login(world["alice"])
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'data-testid="deployment-steps"' in page and "orders-server" in page
    answer = client.post(f"/orders/{order.pk}/destroy/")  # a destroy order…
    assert answer.status_code == 302
    destroy = Order.objects.get(kind="destroy")
    admit_and_deploy(destroy.pk)
    # …which, holding a database, waits for the manager.
    approval_decide(user=world["bob"], approval_id=destroy.approval.pk, approve=True)
    deploy_approved()
    run_queued()
    assert not SandboxObject.objects.exists()
