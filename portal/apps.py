from django.apps import AppConfig


class PortalConfig(AppConfig):
    """The shell on top: settings, URLs and the API root, the Celery app, the dashboard and
    monitoring, demo seeding. It may import every app; no app imports it."""

    name = "portal"
    verbose_name = "Portal: the shell"
