"""Celery tasks: load by id, call a service. Provider calls run on the provisioning queue."""

import random

from celery import shared_task
from django.conf import settings

from provisioning import services


@shared_task(bind=True, max_retries=services.MAX_ATTEMPTS)
def run_step(self, step_id: int) -> None:
    try:
        services.step_execute(step_id=step_id)
    except services.TransientProviderError as error:
        # Exponential backoff with jitter, so retries of many steps do not arrive together.
        base = settings.CANOPY_STEP_RETRY_BASE
        countdown = min(60, base * 2**self.request.retries) + random.uniform(0, base)
        raise self.retry(exc=error, countdown=countdown) from error


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
