"""The raw hours as a CSV written in the background: every usage row of a report's scope is
more than a request may stream (a month of a large estate is millions of rows), so a Celery
task writes the file in batches from a server-side cursor and tells the user where it is."""

import csv
import tempfile
import uuid
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db import transaction
from django.urls import reverse

from billing.selectors.exports import EXPORT_HEADER, usage_export
from billing.selectors.periods import Period
from core.services import notify


def export_storage() -> FileSystemStorage:
    """Where the files wait for their download (the web and the workers share `VAR_DIR`)."""
    return FileSystemStorage(location=settings.VAR_DIR / "exports")


def usage_export_request(
    *, user: AbstractUser, period: Period, filters: dict, showback: bool = False
) -> str:
    """Ask for the raw hours of a report's scope: the file is written by a worker once the
    request commits, and the user is notified with its link. Returns the file's id."""
    export_id = uuid.uuid4().hex
    args = {
        "user_id": user.pk,
        "export_id": export_id,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "label": period.label,
        "filters": filters,
        "showback": showback,
    }
    # By name (tasks import this module); routed to the billing queue, off admission's.
    transaction.on_commit(
        lambda: current_app.send_task("billing.tasks.usage_export", kwargs=args), robust=True
    )
    return export_id


def usage_export_write(
    *,
    user_id: int,
    export_id: str,
    start: str,
    end: str,
    label: str,
    filters: dict,
    showback: bool = False,
) -> str:
    """Write the CSV (what `user_id` may read of the period), then notify them. Returns the
    stored file's name."""
    user = get_user_model().objects.get(pk=user_id)
    period = Period(datetime.fromisoformat(start), datetime.fromisoformat(end), label)
    rows = usage_export(user=user, period=period, filters=filters, showback=showback)
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as buffer:
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_HEADER)
        writer.writerows(rows)
        buffer.seek(0)
        name = export_storage().save(f"{user.pk}/{export_id}.csv", File(buffer))
    notify(
        user=user,
        subject=f"Usage hours of {label} ready",
        body=f"The usage hours of {label} you asked for are ready to download.",
        url=reverse("billing:usage_export_download", args=[export_id]),
    )
    return name


def usage_export_path(*, user: AbstractUser, export_id: str) -> str | None:
    """The file of one of the user's exports, if it is ready (nobody else's)."""
    storage = export_storage()
    name = f"{user.pk}/{export_id}.csv"
    return storage.path(name) if storage.exists(name) else None
