from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Lifecycle: leases, retirement and idle reclaim"

    def ready(self) -> None:
        from lifecycle.receivers import lifecycle_changed_react
        from portal.signals import lifecycle_changed

        lifecycle_changed.connect(lifecycle_changed_react, dispatch_uid="lifecycle")
