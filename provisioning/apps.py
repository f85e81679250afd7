from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ProvisioningConfig(AppConfig):
    name = "provisioning"

    def ready(self) -> None:
        from provisioning.services import account_options_forget

        for signal in (post_save, post_delete):
            signal.connect(
                account_options_forget,
                sender="provisioning.CloudAccount",
                dispatch_uid=f"account-options-forget-{signal is post_save}",
            )
