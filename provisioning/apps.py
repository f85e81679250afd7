from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from provisioning.services.accounts import account_options_reset

        post_save.connect(
            account_options_reset,
            sender="provisioning.CloudAccount",
            dispatch_uid="account-options-reset-save",
        )
        post_delete.connect(
            account_options_reset,
            sender="provisioning.CloudAccount",
            dispatch_uid="account-options-reset-delete",
        )
