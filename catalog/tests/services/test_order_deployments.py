"""Destroying an order's resources is for the people who may order in its project."""

import pytest

from catalog.orders import order_destroy
from catalog.tests.saga import approved_order, run_queued
from provisioning.services.saga import deployment_start

pytestmark = pytest.mark.django_db


def test_order_destroy_checks_permission(world):
    order = approved_order(world, "web-tier", name="shop", instances=1)
    deployment_start(order=order)
    run_queued()
    with pytest.raises(Exception, match="may not"):
        order_destroy(user=world["dave"], order_id=order.pk)
