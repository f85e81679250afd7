from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Lifecycle: leases, retirement and idle reclaim"

    def ready(self) -> None:
        from core.signals import lifecycle_changed
        from lifecycle.receivers import lifecycle_changed_react

        lifecycle_changed.connect(lifecycle_changed_react, dispatch_uid="lifecycle")
