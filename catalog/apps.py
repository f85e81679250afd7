from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        from catalog import order_config, receivers
        from provisioning.signals import change_deployment_finished

        order_config.connect_signals()
        change_deployment_finished.connect(
            receivers.change_deployment_finished_react, dispatch_uid="catalog-change-orders"
        )
