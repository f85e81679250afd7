"""An order being prepared: its form's choices and errors, names it may take, the plan it pins,
its quote and the live estimate, and why it would be refused."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import jsonschema
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model

import provisioning.selectors as provisioning_selectors
from approvals.selectors.admission import admission_refusal
from approvals.selectors.quota import QUOTA_EXCEEDED, quota_effect
from billing.pricing import PriceBook, monthly_quote
from billing.selectors.budgets import budget_check
from catalog import order_config, templating
from catalog.models import CatalogItem, Order, OrderKind, OrderStatus
from catalog.selectors.menu import (
    cloud_accounts_for_item,
    item_offered_to_project,
    parameter_choices,
    resolve_resources,
)
from core.labels import field_label
from core.models import Project
from core.selectors import user_has_project_perm
from provisioning.models import CloudAccount

ModelT = TypeVar("ModelT", bound=Model)


def order_project(*, pk: int) -> Project | None:
    """The project an order names, before any permission check (order_plan checks it)."""
    return order_config.project(pk=pk)


def _with_defaults(*, item: CatalogItem, parameters: dict, choices: dict) -> dict:
    """The parameters with every omitted optional value filled: the schema's default, or for an
    account option the default when the account offers it, else its first option."""
    required = set(item.parameters.get("required", []))
    filled = {**templating.parameter_defaults(item.parameters), **parameters}
    for name, offered in choices.items():
        ids = [option_id for option_id, _ in offered]
        if name not in parameters and name not in required and ids:
            filled[name] = filled[name] if filled.get(name) in ids else ids[0]
    return filled


def parameter_errors(*, item: CatalogItem, parameters: dict, choices: dict) -> dict:
    """Per-parameter messages: the JSON Schema, then every account option re-checked."""
    errors: dict[str, list[str]] = {}
    for error in jsonschema.Draft202012Validator(item.parameters).iter_errors(parameters):
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(parameters, dict) and name not in parameters:
                    errors.setdefault(name, ["This field is required."])
        else:
            field = str(error.path[0]) if error.path else "parameters"
            errors.setdefault(field, []).append(_readable(error))
    for name, offered in choices.items():
        ids = [option_id for option_id, _ in offered]
        if name in parameters and name not in errors and parameters[name] not in ids:
            errors[name] = [
                f"Choose one of: {', '.join(ids)}." if ids else "This cloud account offers none."
            ]
    return errors


def _readable(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, except for a choice list, where it names the valid choices, and a
    pattern, where it gives the parameter's rule in words."""
    if error.validator == "pattern":
        return templating.pattern_message(error.schema)
    choices = (
        [option.get("const") for option in error.validator_value or []]
        if (error.validator == "oneOf")
        else []
    )
    if choices and None not in choices:
        return f"Choose one of: {', '.join(map(str, choices))}."
    return error.message


# A new order in one of these states will make its resources: their names are spoken for.
NAMES_RESERVED = [
    OrderStatus.SUBMITTED,
    OrderStatus.PENDING_APPROVAL,
    OrderStatus.APPROVED,
    OrderStatus.PROVISIONING,
]


def _names_ordered(*, project: Project, names: Sequence[tuple[str, str]]) -> list[str]:
    """Which of these (kind, name) pairs a pending new order of the project will make (one
    not yet provisioned, rejected, cancelled or failed)."""
    wanted = set(names)
    plans = Order.objects.filter(
        project=project, kind=OrderKind.NEW, status__in=NAMES_RESERVED
    ).values_list("plan", flat=True)
    return [
        name
        for plan in plans
        for spec in (plan or {}).get("resources", [])
        for name in templating.copy_names(spec)
        if (spec["kind"], name) in wanted
    ]


def name_conflicts(*, item: CatalogItem, project: Project, resources: list[dict]) -> dict:
    """The names the order would give that the project already uses for the same kind, or that
    a pending order of the project will use, keyed by the item's `name` parameter (where names
    come from), or empty."""
    names = [(spec["kind"], name) for spec in resources for name in templating.copy_names(spec)]
    existing = provisioning_selectors.resource_names_in_use(project=project, names=names)
    ordered = sorted(set(_names_ordered(project=project, names=names)) - set(existing))
    if not existing and not ordered:
        return {}
    field = "name" if "name" in item.parameters.get("properties", {}) else "parameters"
    told = [f"{project.name} already has {', '.join(existing)}"] if existing else []
    if ordered:
        told.append(f"an order waiting to be provisioned will make {', '.join(ordered)}")
    return {
        field: [
            f"Names are unique per project and kind: {'; '.join(told)}. Choose a name no "
            "resource or pending order of the project uses."
        ]
    }


@dataclass(frozen=True)
class OrderPlan:
    """A checked order: the account it goes to, its complete parameters, resolved specs and
    monthly price, and the account's options it was checked against."""

    project: Project
    cloud_account: CloudAccount
    parameters: dict
    resources: list[dict]
    estimated_monthly_cost: Decimal
    options: dict


def order_plan(
    *, user: AbstractUser, item: CatalogItem, project: Project, parameters: dict
) -> OrderPlan:
    """Everything an order must pass before it is submitted (or quoted through the API).

    `parameters["cloud_account"]` (an account id) picks among the accounts offering the item;
    without it the project's first such account is used. Raises PermissionDenied or a
    ValidationError keyed by parameter.
    """
    if not user_has_project_perm(user=user, project=project, perm="order_in_project"):
        raise PermissionDenied("You may not order for this project.")
    if not item_offered_to_project(item=item, project=project):
        raise PermissionDenied("This item is not offered to this project.")
    if not isinstance(parameters, dict):
        raise ValidationError({"parameters": ["Expected an object."]})
    parameters = dict(parameters)
    account = _chosen_account(
        item=item, project=project, chosen=parameters.pop("cloud_account", None)
    )
    options = order_config.account_options(account=account)
    choices = parameter_choices(item=item, account=account, options=options)
    parameters = _with_defaults(item=item, parameters=parameters, choices=choices)
    errors = parameter_errors(item=item, parameters=parameters, choices=choices)
    if errors:
        raise ValidationError(errors)
    resources = resolve_resources(item=item, parameters=parameters)
    taken = name_conflicts(item=item, project=project, resources=resources)
    if taken:
        raise ValidationError(taken)
    book = PriceBook(
        [account.pk], rates=order_config.rates(cloud_account_id=account.pk), accounts=[account]
    )
    return OrderPlan(
        project=project,
        cloud_account=account,
        parameters=parameters,
        resources=resources,
        # Strict: an item the account's rate card has no price for is refused, not quoted at 0.
        estimated_monthly_cost=monthly_quote(
            cloud_account_id=account.pk, resources=resources, book=book, strict=True
        ),
        options=options,
    )


def _chosen_account(*, item: CatalogItem, project: Project, chosen: object) -> CloudAccount:
    accounts = cloud_accounts_for_item(item=item, project=project)
    if not accounts:
        raise ValidationError({"project": [f"No cloud account of {project} offers {item.name}."]})
    return chosen_or_first(accounts, chosen=chosen, field="cloud_account")


def chosen_or_first(candidates: Iterable[ModelT], *, chosen: object, field: str) -> ModelT | None:
    """The candidate whose id is `chosen` (an id or its text), or the first when none is chosen;
    None when there is no candidate at all. A choice that is not offered raises a ValidationError
    keyed by `field` that lists the offered ones. (The order form, the API's order options and
    order_plan pick projects and cloud accounts through here.)"""
    candidates = list(candidates)
    if chosen in (None, ""):
        return candidates[0] if candidates else None
    found = next((c for c in candidates if str(c.pk) == str(chosen)), None)
    if found is None:
        offered = ", ".join(f"{c.pk} ({c})" for c in candidates)
        message = f"Choose one of: {offered}." if offered else "There is none to choose from."
        raise ValidationError({field: [message]})
    return found


@dataclass(frozen=True)
class Quote:
    estimated_monthly_cost: Decimal
    quota: list[str]


def order_quote(
    *,
    project: Project,
    cloud_account: CloudAccount,
    resources: list[dict],
    monthly_cost: Decimal | None = None,
) -> Quote:
    """The monthly price and what the order would do to the project's quotas.
    `monthly_cost`: the price when the caller has it (an OrderPlan's), else it is priced here."""
    cost = monthly_cost
    if cost is None:
        cost = monthly_quote(cloud_account_id=cloud_account.pk, resources=resources)
    return Quote(
        estimated_monthly_cost=cost,
        quota=quota_effect(
            project=project, cloud_account=cloud_account, resources=resources, monthly_cost=cost
        ),
    )


def unsaved_order(*, user: AbstractUser, item: CatalogItem, plan: OrderPlan) -> Order:
    """The order a checked plan becomes, not saved yet (submit saves it; the estimate does not)."""
    return Order(
        item=item,
        project=plan.project,
        requester=user,
        cloud_account=plan.cloud_account,
        parameters=plan.parameters,
        estimated_monthly_cost=plan.estimated_monthly_cost,
        monthly_cost_delta=plan.estimated_monthly_cost,
    )


def order_refusal(*, order: Order, plan: OrderPlan) -> dict[str, list[str]]:
    """Why admission would refuse the order now, by kind ("quota", "budget"); empty: it fits."""
    return admission_refusal(order=order, resources=plan.resources, sizes=plan.options["sizes"])


@dataclass(frozen=True)
class Estimate:
    """What the order form shows while it is filled: the price and quota effect of a valid form,
    or what is invalid (no price then); `refusal` says why it would be refused as it stands."""

    errors: tuple[str, ...] = ()
    quote: Quote | None = None
    refusal: tuple[str, ...] = ()
    # A budget the order would exceed that does not refuse orders (its people get alerts).
    over_budget: str | None = None

    @property
    def over_limits(self) -> bool:
        return any(message.startswith(QUOTA_EXCEEDED) for message in self.quote.quota)


def order_estimate(
    *, user: AbstractUser, item: CatalogItem, project: Project, parameters: dict
) -> Estimate:
    """The order form's live estimate: the same checks as a submit, without saving anything."""
    try:
        plan = order_plan(user=user, item=item, project=project, parameters=parameters)
    except (ValidationError, PermissionDenied) as error:
        return Estimate(errors=tuple(_labelled(item, error)))
    order = unsaved_order(user=user, item=item, plan=plan)
    refusal = order_refusal(order=order, plan=plan)
    quote = order_quote(
        project=project,
        cloud_account=plan.cloud_account,
        resources=plan.resources,
        monthly_cost=plan.estimated_monthly_cost,
    )
    return Estimate(
        quote=quote,
        refusal=tuple(message for messages in refusal.values() for message in messages),
        over_budget=None
        if refusal
        else budget_check(
            project=project, monthly_cost=plan.estimated_monthly_cost, refusing_only=False
        ),
    )


def _labelled(item: CatalogItem, error: ValidationError | PermissionDenied) -> list[str]:
    """Each message with the title of the field it is about ("Server name: …")."""
    if isinstance(error, PermissionDenied) or not hasattr(error, "error_dict"):
        return [str(message) for message in getattr(error, "messages", [str(error)])]
    properties = item.parameters.get("properties", {})
    return [
        f"{field_title(properties, field)}: {message}"
        for field, messages in error.message_dict.items()
        for message in messages
    ]


def field_title(properties: dict, name: str) -> str:
    """A parameter's title from the item's schema, else its name in words ("SSH key")."""
    spec = properties.get(name)
    if isinstance(spec, dict) and spec.get("title"):
        return spec["title"]
    return field_label(name)
