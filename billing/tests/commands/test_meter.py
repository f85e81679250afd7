"""The `meter` command: it backfills a range and refuses a backwards one."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Usage
from billing.tests.helpers import at, event, make_resource

pytestmark = pytest.mark.django_db


def test_meter_command_backfills_a_range(world):
    server = make_resource(world, size="small")
    event(server, "created", at(0), size="small")
    out = StringIO()
    call_command("meter", "--from", "2026-10-05T10:00", "--to", "2026-10-05T16:00", stdout=out)
    assert Usage.objects.filter(resource=server).count() == 6
    assert "6 hours" in out.getvalue()


def test_meter_command_rejects_a_backwards_range(world):
    with pytest.raises(CommandError):
        call_command("meter", "--from", "2026-10-05T10:00", "--to", "2026-10-05T09:00")
