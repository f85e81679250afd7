"""Leases over the API: on the resources, extended (or a change order past the maximum), kept,
read in constant queries; a lease whose resources a person deleted ends."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.tests.saga import admit_and_deploy, run_queued
from lifecycle.models import Lease
from lifecycle.tests.helpers import (
    completed,
    server_of,
)

pytestmark = pytest.mark.django_db


def test_api_lease_on_resources_extend_and_permissions(shop, api_as):
    order = completed(shop)
    lease = Lease.objects.get(order=order)
    server = server_of(order)
    alice, dave = api_as(shop["alice"]), api_as(shop["dave"])
    listed = alice.get("/api/v1/resources/", {"order": order.pk}).data["results"]
    assert {r["lease_expires_at"] is not None for r in listed} == {True}
    assert alice.get(f"/api/v1/leases/{lease.pk}/").status_code == 200
    assert dave.get(f"/api/v1/leases/{lease.pk}/").status_code == 404
    assert dave.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 1}).status_code == 404
    answer = alice.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 3}, format="json")
    assert answer.status_code == 200
    unexplained = alice.post(f"/api/v1/leases/{lease.pk}/extend/", {"days": 900}, format="json")
    assert unexplained.status_code == 400 and "reason" in unexplained.data
    answer = alice.post(
        f"/api/v1/leases/{lease.pk}/extend/", {"days": 900, "reason": "audit"}, format="json"
    )
    assert answer.status_code == 202
    assert (answer.data["kind"], answer.data["action"]) == ("change", "extend_lease")
    listed = alice.get("/api/v1/orders/", {"kind": "change"}).data["results"]
    assert [o["id"] for o in listed] == [answer.data["id"]]
    keep = alice.post("/api/v1/resource-keeps/", {"resource": server.pk, "reason": "shop"})
    assert keep.status_code == 201
    assert (
        dave.post("/api/v1/resource-keeps/", {"resource": server.pk, "reason": "x"}).status_code
        == 404
    )
    assert alice.delete(f"/api/v1/resource-keeps/{keep.data['id']}/").status_code == 204


def test_the_resource_list_reads_leases_in_constant_queries(shop, api_as):
    alice = api_as(shop["alice"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get("/api/v1/resources/").status_code == 200
        return len(captured)

    completed(shop, name="vm1")
    queries()  # a process's first request also reads the content types, cached from then on
    one = queries()
    completed(shop, name="vm2")
    assert queries() == one


def test_a_lease_whose_resources_a_person_deleted_ends(shop, api_as):
    order = completed(shop)
    answer = api_as(shop["alice"]).post(f"/api/v1/orders/{order.pk}/destroy/")
    assert answer.status_code == 202
    admit_and_deploy(answer.data["id"])  # a destroy order: "Deletions" approves it at once
    run_queued()
    assert Lease.objects.get(order=order).state == "deleted"
