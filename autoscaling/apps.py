from django.apps import AppConfig


class AutoscalingConfig(AppConfig):
    name = "autoscaling"
    verbose_name = "Autoscaling: scaling policies and schedules"

    def ready(self) -> None:
        from autoscaling import receivers
        from core.signals import lifecycle_changed

        lifecycle_changed.connect(receivers.lifecycle_changed_react, dispatch_uid="autoscaling")
