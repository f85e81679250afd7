"""Celery tasks: load by id, call a service. Provider calls run on the provisioning queue."""

import random

from celery import shared_task
from django.conf import settings

from provisioning import services


@shared_task
def run_steps(step_ids: list[int]) -> None:
    """A chunk of ready steps; each one a transient error left running is retried on its own."""
    base = settings.CANOPY_STEP_RETRY_BASE
    for step in services.steps_execute(step_ids=step_ids):
        # Exponential backoff with jitter, so retries of many steps do not arrive together.
        countdown = min(60, base * 2 ** (step.attempts - 1)) + random.uniform(0, base)
        run_steps.apply_async(([step.pk],), countdown=countdown)


@shared_task
def reconcile_stuck() -> int:
    return services.reconcile_stuck()


@shared_task
def steps_resume() -> int:
    return services.steps_resume()


@shared_task
def reconcile_accounts() -> dict[str, int]:
    return services.reconcile_accounts()


@shared_task
def refresh_account_options(account_id: int) -> None:
    services.account_options_refresh(account_id=account_id)


@shared_task
def refresh_all_account_options() -> int:
    return services.account_options_refresh_all()
