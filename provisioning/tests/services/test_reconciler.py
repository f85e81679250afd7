"""The reconciler compares each account's tagged objects with the database: missing resources,
unknown objects reported once."""

import pytest

from core.models import AuditEvent
from provisioning.models import Resource, SandboxObject, UnknownObject
from provisioning.providers import get_adapter
from provisioning.services.reconciler import reconcile_accounts
from provisioning.tests.factories import deployed_server

pytestmark = pytest.mark.django_db


def test_reconciler_marks_missing_and_reports_unknown_objects():
    server = deployed_server()
    SandboxObject.objects.filter(external_id=server.external_id).delete()  # deleted by hand
    account = server.cloud_account
    stray = get_adapter(account).create("network", "canopy-999999", {"cidr": "10.9.0.0/16"})

    assert reconcile_accounts() == {"missing": 1, "drift": 0, "unknown": 1, "unreachable": 0}
    assert Resource.objects.get(pk=server.pk).state == "missing"
    # Gone at the provider means no longer charged: metering stops at a deleted event.
    assert server.events.order_by("at").last().kind == "deleted"
    unknown = UnknownObject.objects.get()
    assert (unknown.external_id, unknown.name) == (stray.external_id, "canopy-999999")
    assert AuditEvent.objects.filter(action="provider.unknown_object").count() == 1

    reconcile_accounts()  # reported once, not on every run
    assert AuditEvent.objects.filter(action="provider.unknown_object").count() == 1
    get_adapter(account).delete("network", stray.external_id)
    reconcile_accounts()
    assert not UnknownObject.objects.exists()
