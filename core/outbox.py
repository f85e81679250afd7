"""A transactional outbox: work that a transaction decides reaches a worker even when the broker is
down when it commits.

`outbox_enqueue` writes one row per message in the caller's transaction and publishes the rows
once it commits; a row is deleted only after the broker took its message. A publish that fails
(the broker is down, the connection broke) is logged, never raised: the request that decided
the work has succeeded, since the database has it. The rows left behind are published by
`outbox_relay`, which every worker runs every `RELAY_SECONDS` from its main process (see
`portal.worker_sweeps`), so they go out within seconds of the broker's return, without waiting
for beat (whose own messages need the broker too).

Both publishers lock the rows they publish (`SKIP LOCKED`), so no row is published by both;
a message can still be published twice when the database fails between the publish and the
delete, which at-least-once delivery allows: every task is safe to run twice.
"""

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery import current_app
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.models import OutboxMessage

logger = logging.getLogger(__name__)

# How often each worker publishes what the outbox holds (seconds).
RELAY_SECONDS = 2.0
# A row younger than this is left to the process that wrote it, which publishes it on commit.
RELAY_GRACE = timedelta(seconds=2)
RELAY_BATCH = 500
# One quick retry (a pooled connection may predate a broker restart), then leave the message to
# the relay rather than hold up the request that decided it.
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def outbox_enqueue(task: str, calls: Iterable[list], *, countdown: float = 0) -> None:
    """Run the Celery task named `task` once for each argument list of `calls`, once the current
    transaction commits (at once outside one), `countdown` seconds after that."""
    now = timezone.now()
    rows = OutboxMessage.objects.bulk_create(
        OutboxMessage(task=task, args=list(args), countdown=countdown, created_at=now)
        for args in calls
    )
    if rows:
        ids = [row.pk for row in rows]
        transaction.on_commit(lambda: _publish_committed(ids))


def _publish_committed(ids: list[int]) -> None:
    try:
        _deliver(OutboxMessage.objects.filter(pk__in=ids), now=timezone.now())
    except Exception:  # the database failed after the commit: the relay sends them
        logger.warning("outbox: %d message(s) left for the relay", len(ids), exc_info=True)


def outbox_relay(*, now: datetime | None = None) -> int:
    """Publish the messages older than RELAY_GRACE that are still in the outbox (their publisher
    failed or died); returns how many. Several workers may run it at once."""
    now = now or timezone.now()
    return _deliver(OutboxMessage.objects.filter(created_at__lt=now - RELAY_GRACE), now=now)


@transaction.atomic
def _deliver(rows: QuerySet[OutboxMessage], *, now: datetime) -> int:
    """Publish `rows` (a queryset) that no one else is publishing, oldest first, and delete the
    ones the broker took; returns how many. Stops at the first failure (logged): the rest stay
    for the relay."""
    published = []
    for row in rows.select_for_update(skip_locked=True).order_by("pk")[:RELAY_BATCH]:
        remaining = row.countdown - (now - row.created_at).total_seconds()
        try:
            current_app.send_task(
                row.task,
                args=row.args,
                countdown=max(remaining, 0) or None,
                retry_policy=PUBLISH_RETRY,
            )
        except Exception as error:
            # Logged, not raised: what the transaction decided is saved; the relay sends it.
            logger.warning("outbox: the broker refused %s (%s); the relay retries", row, error)
            break
        published.append(row.pk)
    OutboxMessage.objects.filter(pk__in=published).delete()
    return len(published)
