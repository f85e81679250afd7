"""The quota ledger under the services: a day-2 resize is admitted against the quota; forty
concurrent admissions against ten servers let exactly ten in."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from approvals.models import LedgerStatus, QuotaEntry
from approvals.services.quota import day2_admit
from catalog.models import Order
from catalog.orders import order_admit
from catalog.services import order_submit
from catalog.tests.helpers import quota_limit, servers_taken
from catalog.tests.saga import deploy_approved
from core.models import Notification
from provisioning.models import Resource, Step
from provisioning.services.saga import step_execute
from tests.fixtures import order_via_api


@pytest.mark.django_db
def test_day2_resize_is_admitted_against_the_quota(world, api_as):
    quota_limit(world["web_shop"], max_servers=20, max_vcpus=3)
    order = Order.objects.get(pk=order_via_api(api_as(world["alice"]), world).data["id"])
    api_as(world["bob"]).post(f"/api/v1/approvals/{order.approval.pk}/approve/", {})
    deploy_approved()  # the worker plans the deployment
    for step in Step.objects.all():
        step_execute(step_id=step.pk)
    resource = Resource.objects.get(order=order)
    day2_admit(user=world["alice"], resource=resource, action="resize", params={"size": "medium"})
    assert (
        QuotaEntry.objects.filter(status=LedgerStatus.COMMITTED).aggregate(v=Sum("vcpus"))["v"] == 2
    )
    with pytest.raises(ValidationError) as refused:
        day2_admit(
            user=world["alice"], resource=resource, action="resize", params={"size": "large"}
        )
    assert "vCPU quota" in refused.value.message_dict["quota"][0]


@pytest.mark.django_db(transaction=True)
def test_forty_concurrent_orders_against_ten_servers(world):
    """Forty threads submit at once, each on its own connection: nothing is reserved yet, so the
    lock-free check at submission lets all of them through. Then forty admissions race as
    workers would: the quota row lock lets exactly ten in and rejects the others with the quota
    message. Once the quota is full, the check at submission refuses at once.
    (On SQLite the IMMEDIATE transactions serialize the writers instead.)"""
    quota_limit(world["web_shop"], max_servers=10, max_vcpus=None)
    start, admitted = threading.Barrier(40, timeout=60), threading.Barrier(40, timeout=60)
    outcomes: list[str] = []

    def submit_then_admit(index: int) -> None:
        try:
            start.wait()
            order = order_submit(
                user=world["alice"],
                item=world["linux_vm"],
                project=world["web_shop"],
                parameters={"name": f"vm-{index}", "size": "small"},
            )
            admitted.wait()
            order = order_admit(order_id=order.pk)
            outcomes.append(
                "admitted" if order.status == "pending_approval" else order.status_message
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_then_admit, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("admitted") == 10
    refusals = [o for o in outcomes if o != "admitted"]
    assert len(refusals) == 30
    assert all(o.startswith("Over the server quota of web-shop") for o in refusals)
    assert Order.objects.filter(status="pending_approval").count() == 10
    assert Order.objects.filter(status="rejected").count() == 30
    assert (
        Notification.objects.filter(
            user=world["alice"], subject__endswith=": refused", body__startswith="Over the server"
        ).count()
        == 30
    )
    assert servers_taken(LedgerStatus.RESERVED) == 10
    assert set(
        QuotaEntry.objects.filter(status=LedgerStatus.RESERVED).values_list("order", flat=True)
    ) == set(Order.objects.filter(status="pending_approval").values_list("pk", flat=True))

    with pytest.raises(ValidationError) as refused:
        order_submit(
            user=world["alice"],
            item=world["linux_vm"],
            project=world["web_shop"],
            parameters={"name": "vm-41", "size": "small"},
        )
    (message,) = refused.value.message_dict["quota"]
    assert message == "Over the server quota of web-shop: this needs 1, 10 of 10 are already taken."
    assert Order.objects.count() == 40
