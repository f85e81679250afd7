"""Celery tasks: load by id, call a service. Provider calls run on the provisioning queue."""

import random

from celery import shared_task

from provisioning import services


@shared_task(bind=True, max_retries=services.MAX_ATTEMPTS)
def run_step(self, step_id: int) -> None:
    try:
        services.step_execute(step_id=step_id)
    except services.TransientProviderError as error:
        # Exponential backoff with jitter, so retries of many steps do not arrive together.
        countdown = min(60, 2**self.request.retries) + random.uniform(0, 1)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task
def reconcile_stuck() -> int:
    return services.reconcile_stuck()
