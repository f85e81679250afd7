"""Writes for orders: validate, quote, admit."""

from decimal import Decimal

import jsonschema
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

import approvals.services as approval_services
from billing.pricing import monthly_quote
from catalog.models import CatalogItem, Order
from catalog.selectors import item_offered_to_project, resolve_resources
from portal.models import Project
from portal.selectors import user_has_project_perm
from portal.services import audit_record, audited_transition
from provisioning.models import CloudAccount
from provisioning.selectors import cloud_account_for_project


def parameters_validate(*, item: CatalogItem, parameters: dict) -> dict:
    """Check parameters against the item's JSON Schema; errors are keyed by parameter name."""
    validator = jsonschema.Draft202012Validator(item.parameters)
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(parameters):
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(parameters, dict) and name not in parameters:
                    errors.setdefault(name, ["This field is required."])
        else:
            field = str(error.path[0]) if error.path else "parameters"
            errors.setdefault(field, []).append(_readable(error))
    if errors:
        raise ValidationError(errors)
    return parameters


def _readable(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, except for a choice list, where it names the valid choices."""
    choices = (
        [option.get("const") for option in error.validator_value or []]
        if (error.validator == "oneOf")
        else []
    )
    if choices and None not in choices:
        return f"Choose one of: {', '.join(map(str, choices))}."
    return error.message


def order_quote(*, item: CatalogItem, project: Project, parameters: dict) -> Decimal:
    account = cloud_account_for_project(project=project)
    return monthly_quote(
        cloud_account_id=account.pk if account else None,
        resources=resolve_resources(item=item, parameters=parameters),
    )


@transaction.atomic
def order_submit(
    *, user: AbstractUser, item: CatalogItem, project: Project, parameters: dict
) -> Order:
    """Check that the user may order the item for the project, quote it and open its approval."""
    if not user_has_project_perm(user=user, project=project, perm="order_in_project"):
        raise PermissionDenied("You may not order for this project.")
    if not item_offered_to_project(item=item, project=project):
        raise PermissionDenied("This item is not offered to this project.")
    parameters_validate(item=item, parameters=parameters)
    account: CloudAccount | None = cloud_account_for_project(project=project)
    if account is None:
        raise ValidationError({"project": ["No cloud account serves this project."]})
    order = Order.objects.create(
        item=item,
        project=project,
        requester=user,
        parameters=parameters,
        estimated_monthly_cost=monthly_quote(
            cloud_account_id=account.pk,
            resources=resolve_resources(item=item, parameters=parameters),
        ),
    )
    audit_record(
        action="order.submitted",
        target=order,
        actor=user,
        to_state=order.status,
        message=f"{item.name} for {project.name}",
        order_id=order.pk,
    )
    order_transition(order=order, transition=order.await_approval)
    approval_services.approval_request_open(order=order)
    return order


def order_transition(
    *, order: Order, transition, actor: AbstractUser | None = None, message: str = ""
) -> Order:
    """Apply one lifecycle transition to the order and write it to the audit trail."""
    with audited_transition(
        order,
        field="status",
        action="order.status",
        actor=actor,
        message=message,
        order_id=order.pk,
    ):
        transition()
        if message:
            order.status_message = message
        order.save(update_fields=["status", "status_message", "updated_at"])
    return order
