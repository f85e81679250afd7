from django.apps import AppConfig


class ApprovalsConfig(AppConfig):
    name = "approvals"

    def ready(self) -> None:
        from approvals import receivers
        from portal.signals import lifecycle_changed

        lifecycle_changed.connect(receivers.lifecycle_changed_react, dispatch_uid="approvals")
