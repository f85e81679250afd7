"""Celery tasks: load by id, call a service. Provider calls run on the provisioning queue."""

import random

from celery import shared_task
from django.conf import settings

from core.db import UNAVAILABLE_ERRORS
from provisioning import services


@shared_task(bind=True, max_retries=None)
def run_steps(self, step_ids: list[int]) -> None:
    """A chunk of ready steps; each one a transient error left running is retried on its own.
    The database failing under the chunk (a restart) runs the whole chunk again shortly: its
    steps are idempotent, and waiting out their lease would cost minutes."""
    base = settings.CANOPY_STEP_RETRY_BASE
    try:
        retry = services.steps_execute(step_ids=step_ids)
        for step in retry:
            # Exponential backoff with jitter, so retries of many steps do not arrive together.
            countdown = min(60, base * 2 ** (step.attempts - 1)) + random.uniform(0, base)
            services.step_retry_later(step=step, countdown=countdown)
    except UNAVAILABLE_ERRORS as error:
        # 0.5 s, 1 s, 2 s … up to 10 s: a short restart costs a second, a long outage is
        # noticed within 10 s of its end. The broken connection is closed after the task.
        countdown = min(10, 0.5 * 2**self.request.retries) + random.uniform(0, 0.5)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task
def reconcile_stuck() -> int:
    return services.reconcile_stuck()


@shared_task
def reconcile_accounts() -> dict[str, int]:
    return services.reconcile_accounts()


@shared_task
def refresh_account_options(account_id: int) -> None:
    services.account_options_refresh(account_id=account_id)


@shared_task
def refresh_all_account_options() -> int:
    return services.account_options_refresh_all()
