"""The reclaim preview: a dry run of what idle reclaim and leases will notify, stop, retire and
delete in the next N days, per project, with what it saves (also over the API and on the
page); then the policies run at the previewed times (and a minute before each) and do
exactly that, no earlier."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from catalog.tests.saga import run_queued
from core.models import AuditEvent
from lifecycle.models import Lease
from lifecycle.selectors.preview import reclaim_preview, reclaim_preview_by_project
from lifecycle.services.tick import lifecycle_tick
from lifecycle.tests.helpers import (
    WAITS,
    completed,
    idle_policy,
    server_of,
)
from provisioning.services.simulation import simulated_load_set

pytestmark = pytest.mark.django_db


MINUTE = timedelta(minutes=1)


def _happened(since_id: int) -> list[tuple[str, str, int]]:
    """(source, action, order) of what the policies did, in the preview's words."""
    words = {
        ("reclaim.graded", "notified"): ("idle", "notify"),
        ("reclaim.graded", "stopped"): ("idle", "stop"),
        ("reclaim.graded", "retired"): ("idle", "retire"),
        ("reclaim.graded", "deleted"): ("idle", "delete"),
        ("lease.warned", ""): ("lease", "notify"),
        ("lease.state", "retired"): ("lease", "retire"),
        ("lease.state", "deleted"): ("lease", "delete"),
    }
    events = (
        AuditEvent.objects.filter(
            pk__gt=since_id, action__in=["reclaim.graded", "lease.warned", "lease.state"]
        )
        # A lease whose order reclaim deleted ends as bookkeeping, not as an action.
        .exclude(action="lease.state", message="the order's resources were deleted")
        .order_by("pk")
    )
    return [
        (*words[(e.action, e.to_state if e.action != "lease.warned" else "")], e.order_id)
        for e in events
    ]


def test_the_preview_is_what_the_policies_then_do(shop, api_as, client):
    idle_policy(shop, **WAITS)
    idle = completed(shop, name="idle-1")
    simulated_load_set(resource=server_of(idle), load="idle")
    leased = completed(shop, name="busy-1")  # busy: only its lease acts on it
    t0 = timezone.now() + timedelta(hours=1)  # the servers have run through a window
    Lease.objects.filter(order=leased).update(expires_at=t0 + timedelta(days=2))

    planned = reclaim_preview(user=shop["alice"], days=10, now=t0)
    assert [(p.source, p.action, p.order_id, p.at - t0) for p in planned] == [
        ("idle", "notify", idle.pk, timedelta(0)),
        ("lease", "notify", leased.pk, timedelta(0)),  # the 7-day warning is due already
        ("idle", "stop", idle.pk, timedelta(hours=2)),
        ("idle", "retire", idle.pk, timedelta(hours=5)),
        ("idle", "delete", idle.pk, timedelta(hours=9)),
        ("lease", "notify", leased.pk, timedelta(days=1)),
        ("lease", "retire", leased.pk, timedelta(days=2)),
        ("lease", "delete", leased.pk, timedelta(days=9)),
    ]
    stop = next(p for p in planned if p.action == "stop")
    assert stop.hourly_saving > 0
    assert stop.saving_in_horizon == (stop.hourly_saving * (10 * 24 - 2)).quantize(Decimal("0.01"))
    [web_shop] = reclaim_preview_by_project(user=shop["alice"], days=10, now=t0)
    assert web_shop.project == shop["web_shop"]
    assert web_shop.saving_in_horizon == sum(p.saving_in_horizon for p in planned)
    assert reclaim_preview_by_project(user=shop["dave"], days=10, now=t0) == []  # not his

    # The same over the API and on the page (now: the idle server is not idle long enough yet).
    answer = api_as(shop["alice"]).get("/api/v1/reclaim-preview/", {"days": 10})
    assert answer.status_code == 200
    assert [a["action"] for a in answer.json()[0]["actions"]][:1] == ["notify"]
    assert api_as(shop["alice"]).get("/api/v1/reclaim-preview/", {"days": 0}).status_code == 400
    client.force_login(shop["alice"])
    page = client.get("/lifecycle/preview/?days=10").content.decode()
    assert 'data-testid="preview-web-shop"' in page

    # Now let time pass: the policies act at the previewed moments, and not a minute before.
    last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    done = []
    for at in sorted({p.at for p in planned}):
        if at > t0:  # what is due at t0 was due before it too
            lifecycle_tick(now=at - MINUTE)
            run_queued()
            assert len(_happened(last)) == len(done), f"acted before {at - t0}"
        lifecycle_tick(now=at)
        run_queued()
        done += [(at, *happened) for happened in _happened(last)[len(done) :]]
    expected = [(p.at, p.source, p.action, p.order_id) for p in planned]
    assert sorted(done) == sorted(expected)
