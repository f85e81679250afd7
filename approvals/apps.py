from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import receivers
        from core.signals import lifecycle_changed
        from provisioning.signals import capacity_requested

        lifecycle_changed.connect(receivers.lifecycle_changed_react, dispatch_uid="approvals")
        capacity_requested.connect(
            receivers.capacity_requested_admit, dispatch_uid="approvals-capacity"
        )
