"""Writes for the catalog and orders: submit (check, quote, pin the plan, queue admission),
load the catalog. Every later move of an order is `catalog.orders`'."""

import re
from pathlib import Path
from typing import Any

import yaml
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog import templating
from catalog.models import CatalogItem, Category, Order, OrderStatus, lease_days_errors
from catalog.orders import order_admission_enqueue
from catalog.selectors import order_plan, order_refusal, unsaved_order
from portal.models import Organization, Project
from portal.services import audit_record
from provisioning.models import Resource


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
