"""Reactions to what provisioning announces: a change order ends with its deployment."""

from catalog import services


def change_deployment_finished_react(sender, *, deployment, **kwargs) -> None:
    services.change_order_finish(deployment_id=deployment.pk)
