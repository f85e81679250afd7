"""Celery tasks for autoscaling (default queue: they only call services, which enqueue steps)."""

from celery import shared_task

from autoscaling import services


@shared_task
def evaluate() -> int:
    """Every minute (beat): evaluate every group's policies and schedules."""
    return services.evaluate()
