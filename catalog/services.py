"""Writes for the catalog and orders: submit (check, quote, pin the plan, queue admission),
change orders (day-2 changes and destroys that go through the same pipeline), load the catalog.
Every later move of an order is `catalog.orders`'."""

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q

import provisioning.selectors as provisioning_selectors
import provisioning.services.day2 as provisioning_day2
from approvals.selectors.admission import change_refusal
from approvals.selectors.policies import approval_preview
from approvals.selectors.quota import change_demand, change_quota_effect
from billing.pricing import billed_kind, monthly_quote
from catalog import templating
from catalog.models import (
    CatalogItem,
    Category,
    ChangeAction,
    Order,
    OrderKind,
    OrderStatus,
    lease_days_errors,
)
from catalog.orders import order_admission_enqueue
from catalog.selectors.ordering import order_plan, order_refusal, unsaved_order
from catalog.selectors.orders import OPEN_STATUSES
from core.models import Organization, Project
from core.selectors import user_has_project_perm
from core.services import audit_record
from provisioning.models import Resource, Step


def order_submit(
    *, user: AbstractUser, item: CatalogItem, project: Project, parameters: dict
) -> Order:
    """Check that the user may order the item for the project, quote it and submit it.

    The order is saved `submitted` and admitted by a worker (`catalog.orders.order_admit`:
    quota reservation, budget, policy, approval stages), so a request does not wait for it.
    An order that would not fit a quota or a refusing budget now is refused at once with the
    reason (ValidationError), as admission would refuse it.
    """
    # Checked and priced before the transaction: reading the account's options may call its
    # provider (the sandbox is read in place), which must not hold a transaction open.
    plan = order_plan(user=user, item=item, project=project, parameters=parameters)
    order = unsaved_order(user=user, item=item, plan=plan)
    order.pin_plan(resources=plan.resources)  # what is quoted and approved is what runs
    refusal = order_refusal(order=order, plan=plan)
    if refusal:
        raise ValidationError(refusal)
    with transaction.atomic():
        order.save()
        audit_record(
            action="order.submitted",
            target=order,
            actor=user,
            to_state=order.status,
            message=f"{item.name} for {project.name} on {plan.cloud_account.name}",
            order_id=order.pk,
        )
        order_admission_enqueue(order=order)
    return order


# Day-2 actions that change cost or capacity, and destroys: each becomes a change order. The
# others (start, stop, reboot, snapshot) run at once.
ORDERED_ACTIONS = {
    ChangeAction.RESIZE,
    ChangeAction.EXTEND,
    ChangeAction.SET_DESIRED,
    ChangeAction.SET_BOUNDS,
    ChangeAction.DESTROY,
}


@dataclass(frozen=True)
class ChangePlan:
    """A checked change before it is ordered: the unsaved change order (its price after the
    change and the delta), what it does to the quotas and who would have to approve it."""

    order: Order
    quota: list[str]
    approval: str


def _monthly_cost(resources: list[Resource], *, changed: dict | None = None) -> Decimal:
    """What the resources cost a month, priced like a quote (`changed`: the properties of the
    one resource given them instead of its own)."""
    specs = [
        {
            "kind": billed_kind(kind=r.kind, parent_kind=r.parent.kind if r.parent_id else None),
            "count": 1,
            "properties": changed if changed is not None else r.properties,
        }
        for r in resources
    ]
    account = resources[0].cloud_account_id if resources else None
    return monthly_quote(cloud_account_id=account, resources=specs)


def _pending_change(*, target: Order, resource: Resource | None, action: str) -> Order | None:
    """An open change order that this one would collide with: one on the same resource, or a
    destroy of the whole order (for a whole-order destroy: any change of the order's; for a
    lease extension: another lease extension)."""
    changes = Order.objects.filter(changes_order=target, status__in=OPEN_STATUSES)
    if action == ChangeAction.EXTEND_LEASE:
        return changes.filter(action=ChangeAction.EXTEND_LEASE).first()
    changes = changes.exclude(action=ChangeAction.EXTEND_LEASE)
    if resource is not None:
        changes = changes.filter(Q(resource=resource) | Q(resource=None))
    return changes.order_by("id").first()


def change_plan(
    *,
    user: AbstractUser,
    action: str,
    params: dict,
    resource: Resource | None = None,
    order: Order | None = None,
) -> ChangePlan:
    """Check and price a change of one resource (`resource`) or of a whole order (`order`:
    destroy, extend_lease), as ordering it would: the user may order in the project, the
    resource can take the action now, nothing else is changing it. Raises PermissionDenied or
    a ValidationError naming the field."""
    target = resource.order if resource is not None else order
    if not user_has_project_perm(user=user, project=target.project, perm="order_in_project"):
        raise PermissionDenied("You may not change this.")
    if target.kind != OrderKind.NEW:
        raise ValidationError({"order": ["Only what a new order made can be changed."]})
    if resource is not None:
        if action not in ORDERED_ACTIONS:
            raise ValidationError({"action": [f"{action!r} is not a change to order."]})
        params = provisioning_day2.day2_check(resource=resource, action=action, params=params)
        live = [resource]
    elif action in (ChangeAction.DESTROY, ChangeAction.EXTEND_LEASE):
        live = list(
            target.resources.filter(parent=None)
            .exclude(state__in=["deleted", "missing"])
            .select_related("parent")
        )
        if action == ChangeAction.DESTROY and not live:
            raise ValidationError({"order": ["The order has no resources left to delete."]})
    else:
        raise ValidationError({"action": [f"An order cannot {action}; choose a resource."]})
    pending = _pending_change(target=target, resource=resource, action=action)
    if pending is not None:
        raise ValidationError(
            {
                "action": [
                    f"Order #{pending.pk} ({pending.summary}) is "
                    f"{pending.get_status_display().lower()} for this already: wait for it "
                    "to finish, or cancel it."
                ]
            }
        )
    before = _monthly_cost(live)
    if action == ChangeAction.DESTROY:
        after = Decimal("0")
    elif action == ChangeAction.EXTEND_LEASE:
        # Without the extension the resources would be retired: it keeps their whole cost.
        before, after = Decimal("0"), before
    elif action == ChangeAction.SET_BOUNDS:
        # What the group may cost at most: its bill's ceiling moves with its maximum.
        props = resource.properties
        before = _monthly_cost(live, changed={**props, "desired": props.get("max", 1)})
        after = _monthly_cost(live, changed={**props, "desired": params["max"]})
    else:
        changed = provisioning_selectors.changed_properties(
            resource=resource, action=action, params=params
        )
        after = _monthly_cost(live, changed=changed)
    change = Order(
        item=target.item,
        project=target.project,
        requester=user,
        cloud_account=target.cloud_account,
        kind=OrderKind.DESTROY if action == ChangeAction.DESTROY else OrderKind.CHANGE,
        action=action,
        changes_order=target,
        resource=resource,
        parameters=params,
        estimated_monthly_cost=after,
        monthly_cost_delta=after - before,
    )
    _, kinds = change_demand(order=change)
    return ChangePlan(
        order=change,
        quota=change_quota_effect(order=change),
        approval=approval_preview(order=change, kinds=kinds),
    )


@transaction.atomic
def change_order_submit(
    *,
    user: AbstractUser,
    action: str,
    params: dict,
    resource_id: int | None = None,
    order_id: int | None = None,
    reason: str = "",
) -> Order:
    """Order a change of a resource (`resource_id`) or of a whole order (`order_id`): checked
    and priced (`change_plan`), refused at once when it does not fit a quota or a refusing
    budget, then saved `submitted` and admitted like a new order (quota reservation, policy,
    stages or auto-approval); once approved, provisioning carries it out. The resource (or
    order) stays locked meanwhile, so two requests cannot both pass the "nothing else is
    changing it" check."""
    if resource_id is not None:
        resource = Resource.objects.select_for_update().get(pk=resource_id)
        plan = change_plan(user=user, action=action, params=params, resource=resource)
    else:
        target = Order.objects.select_for_update().get(pk=order_id)
        plan = change_plan(user=user, action=action, params=params, order=target)
    order = plan.order
    refusal = change_refusal(order=order)
    if refusal:
        raise ValidationError(refusal)
    order.save()
    audit_record(
        action="order.submitted",
        target=order,
        actor=user,
        to_state=order.status,
        message=f"{order.summary}: {order.monthly_cost_delta:+}/month"
        + (f". Reason: {reason}" if reason else ""),
        order_id=order.pk,
    )
    order_admission_enqueue(order=order)
    return order


def resource_action(
    *, user: AbstractUser, resource_id: int, action: str, params: dict
) -> Order | Step:
    """A person's day-2 request: a change of cost or capacity (or a destroy) becomes a change
    order; start, stop, reboot and snapshot run at once."""
    if action in ORDERED_ACTIONS:
        return change_order_submit(user=user, action=action, params=params, resource_id=resource_id)
    return provisioning_day2.resource_action_request(
        user=user, resource_id=resource_id, action=action, params=params
    )


DEFAULT_CATALOG = Path(__file__).with_name("default_catalog.yaml")


def catalog_load_yaml(*, text: str) -> dict[str, int]:
    """`catalog_load` for a YAML text; a syntax error is reported like any other problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError(f"not valid YAML: {error}") from error
    return catalog_load(document=document)


@transaction.atomic
def catalog_load(*, document: Any) -> dict[str, int]:
    """Create or update the categories and items of a catalog document (see catalog_export).

    Idempotent: items are matched by slug, and an item's entitlements become exactly those
    listed. Items missing from the document are left alone. Raises ValidationError with every
    problem found, before writing anything.
    """
    errors, entitlements = _document_errors(document)
    if errors:
        raise ValidationError(errors)
    categories = {}
    for entry in document.get("categories", []):
        categories[entry["slug"]], _ = Category.objects.update_or_create(
            slug=entry["slug"],
            defaults={"name": entry["name"], "description": entry.get("description", "")},
        )
    for entry in document["items"]:
        category = categories.get(entry["category"]) or Category.objects.get(slug=entry["category"])
        item, _ = CatalogItem.objects.update_or_create(
            slug=entry["slug"],
            defaults={
                "name": entry["name"],
                "category": category,
                "description": entry.get("description", ""),
                "is_active": entry.get("is_active", True),
                "parameters": templating.with_parameter_order(entry["parameters"]),
                "resources": entry["resources"],
                "lease_default_days": entry.get("lease_default_days"),
                "lease_max_days": entry.get("lease_max_days"),
            },
        )
        organizations, projects = entitlements[entry["slug"]]
        item.organizations.set(organizations)
        item.projects.set(projects)
    return {"categories": len(categories), "items": len(document["items"])}


SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
ITEM_FIELDS = {
    "slug",
    "name",
    "category",
    "description",
    "is_active",
    "entitlements",
    "parameters",
    "resources",
    "lease_default_days",
    "lease_max_days",
}


def _document_errors(document: Any) -> tuple[list[str], dict]:
    """Every problem of a catalog document, and each item's entitled organizations/projects."""
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        return ["the document must be a mapping with an `items` list"], {}
    errors: list[str] = []
    categories = set()
    for index, entry in enumerate(document.get("categories") or []):
        if not isinstance(entry, dict) or not entry.get("slug") or not entry.get("name"):
            errors.append(f"categories[{index}]: slug and name are required")
        else:
            categories.add(entry["slug"])
    known = categories | set(Category.objects.values_list("slug", flat=True))
    entitlements: dict[str, tuple[list, list]] = {}
    for index, entry in enumerate(document["items"]):
        where = f"items[{index}]"
        if not isinstance(entry, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        where = f"items[{index}] ({entry.get('slug', '?')})"
        missing = {"slug", "name", "category", "parameters", "resources"} - set(entry)
        if missing:
            errors.append(f"{where}: missing {', '.join(sorted(missing))}")
            continue
        if set(entry) - ITEM_FIELDS:
            errors.append(f"{where}: unknown fields {', '.join(sorted(set(entry) - ITEM_FIELDS))}")
        if not isinstance(entry["slug"], str) or not SLUG.match(entry["slug"]):
            errors.append(f"{where}: slug must be lower-case letters, digits and dashes")
        elif entry["slug"] in entitlements:
            errors.append(f"{where}: duplicate slug")
        if str(entry["category"]) not in known:
            errors.append(f"{where}: unknown category {entry['category']!r}")
        errors.extend(
            f"{where}: {message}"
            for message in templating.template_errors(entry["resources"], entry["parameters"])
        )
        lease = lease_days_errors(
            default=entry.get("lease_default_days"), maximum=entry.get("lease_max_days")
        )
        errors.extend(
            f"{where}: {field}: {message}"
            for field, messages in lease.items()
            for message in messages
        )
        found, messages = _entitlements(entry.get("entitlements") or {})
        errors.extend(f"{where}: {message}" for message in messages)
        entitlements[str(entry["slug"])] = found
    return errors, entitlements


def _entitlements(spec: Any) -> tuple[tuple[list, list], list[str]]:
    """Organizations by slug and projects as "organization/project" slugs."""
    if not isinstance(spec, dict) or not all(
        isinstance(spec.get(name) or [], list) for name in ("organizations", "projects")
    ):
        return ([], []), ["entitlements: must map organizations and projects to lists"]
    errors = []
    organizations = []
    for slug in spec.get("organizations") or []:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is None:
            errors.append(f"entitlements: unknown organization {slug!r}")
        organizations.append(organization)
    projects = []
    for path in spec.get("projects") or []:
        org_slug, _, slug = str(path).partition("/")
        project = Project.objects.filter(organization__slug=org_slug, slug=slug).first()
        if project is None:
            errors.append(f"entitlements: unknown project {path!r} (write organization/project)")
        projects.append(project)
    return (organizations, projects), errors


ADOPTED_ITEM = "adopted-server"


def order_adopted(
    *, user: AbstractUser, project: Project, cloud_account: Any, monthly_cost: Any, name: str
) -> Order:
    """The order standing for servers adopted from a provider (launched outside Canopy): not
    orderable from the catalog; saved provisioning, completed by the caller once its resources
    are recorded (`catalog.orders.order_completed`), so leases and reactions follow as for any
    order."""
    category, _ = Category.objects.get_or_create(slug="adopted", defaults={"name": "Adopted"})
    item, _ = CatalogItem.objects.get_or_create(
        slug=ADOPTED_ITEM,
        defaults={
            "name": "Adopted server",
            "category": category,
            "is_active": False,
            "description": "Servers launched outside Canopy and adopted into a project.",
        },
    )
    order = Order.objects.create(
        item=item,
        project=project,
        requester=user,
        cloud_account=cloud_account,
        parameters={"name": name},
        estimated_monthly_cost=monthly_cost,
        status=OrderStatus.PROVISIONING,
    )
    audit_record(
        action="order.adopted",
        target=order,
        actor=user,
        to_state=order.status,
        message=f"{name} adopted into {project.name} from {cloud_account.name}",
        order_id=order.pk,
    )
    return order


def order_from_snapshot(
    *, user: AbstractUser, resource: Resource, snapshot: str, name: str
) -> Order:
    """A new server from one of a server's snapshots, ordered like any server: its item, its
    parameters with the snapshot as the image and a new name, on the same cloud account, through
    the ordinary submission (quota, budget, approval)."""
    if snapshot not in resource.attributes.get("snapshots", []):
        raise ValidationError({"snapshot": [f"{resource.name} has no snapshot {snapshot!r}."]})
    item = resource.order.item
    if resource.kind != "server" or len(item.resources) != 1:
        raise ValidationError(
            {"snapshot": [f"Only a server ordered alone is restored; {item.name} orders more."]}
        )
    parameters = {
        **resource.order.parameters,
        "name": name,
        "image": snapshot,
        "cloud_account": resource.cloud_account_id,  # where the snapshot is
    }
    return order_submit(user=user, item=item, project=resource.project, parameters=parameters)
