from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground: tenancy, audit, notifications, the outbox and the lifecycle signal. Every other
    app may import it; it imports none of them (pyproject.toml, import-linter)."""

    name = "core"
    verbose_name = "Core: tenancy, audit and notifications"
