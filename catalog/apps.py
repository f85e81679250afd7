from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        import approvals.signals
        import provisioning.signals
        from catalog import order_config, receivers

        order_config.connect_signals()
        # The order's owner moves the order on what approvals and provisioning announce.
        for signal, receiver in (
            (approvals.signals.order_admission_decided, receivers.admission_decided),
            (approvals.signals.approval_decided, receivers.approval_decided),
            (provisioning.signals.deployment_started, receivers.deployment_started),
            (provisioning.signals.deployment_succeeded, receivers.deployment_succeeded),
            (provisioning.signals.deployment_failed, receivers.deployment_failed),
            (
                provisioning.signals.change_deployment_finished,
                receivers.change_deployment_finished,
            ),
        ):
            signal.connect(receiver, dispatch_uid=f"catalog-{receiver.__name__}")
