"""Provisioning's factories build rows the services and selectors take as their own."""

import pytest

from core.tests.factories import ProjectFactory, UserFactory
from provisioning.providers import get_adapter
from provisioning.selectors import resource_list
from provisioning.tests.factories import DriftFactory, OrderFactory, StepFactory, deployed_server

pytestmark = pytest.mark.django_db


def test_a_deployed_server_is_its_members_and_found_in_its_cloud() -> None:
    member, outsider = UserFactory(), UserFactory()
    order = OrderFactory(project=ProjectFactory(members=[member]), requester=member)
    server = deployed_server(order=order)

    assert server.cloud_account.organization == server.project.organization
    assert list(resource_list(user=member)) == [server]
    assert list(resource_list(user=outsider)) == []
    found = get_adapter(server.cloud_account).find("server", server.canopy_tag)
    assert found is not None and (found.external_id, found.state) == (server.external_id, "running")


def test_a_step_and_a_drift_belong_to_their_orders_resource() -> None:
    step = StepFactory()
    assert step.resource.order == step.deployment.order and step.state == "pending"
    drift = DriftFactory()
    assert drift.resource.state == "active" and drift.resolved_at is None
