"""The order's owner reacts to what approvals and provisioning announce: each news moves the
order by one of `catalog.orders`' verbs."""

from typing import Any

from catalog import orders


def admission_decided(sender: Any, *, order, refusal: str, **kwargs: Any) -> None:
    if refusal:
        orders.order_refused(order=order, message=refusal)
    else:
        orders.order_admitted(order=order)


def approval_decided(sender: Any, *, order, approved: bool, actor, message: str, **kwargs) -> None:
    if approved:
        orders.order_approved(order=order, actor=actor, message=message)
    else:
        orders.order_rejected(order=order, actor=actor, message=message)


def deployment_started(sender: Any, *, order, **kwargs: Any) -> None:
    orders.order_provisioning_started(order=order)


def deployment_succeeded(sender: Any, *, order_id: int, **kwargs: Any) -> None:
    orders.order_completed(order_id=order_id)


def deployment_failed(sender: Any, *, order_id: int, message: str, **kwargs: Any) -> None:
    orders.order_failed(order_id=order_id, message=message)


def change_deployment_finished(sender: Any, *, deployment, **kwargs: Any) -> None:
    if deployment.state == "succeeded":
        orders.order_completed(order_id=deployment.change_order_id)
    else:
        orders.order_failed(
            order_id=deployment.change_order_id,
            message=deployment.message or "The change failed.",
        )
