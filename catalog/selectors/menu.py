"""The menu a person may order from: entitled items, search and categories, the accounts and
prices an item is offered at, its resources resolved from parameters, the catalog's export."""

from collections.abc import Sequence
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.db.models import Exists, OuterRef, Q, QuerySet

import provisioning.selectors as provisioning_selectors
from billing.pricing import monthly_quote
from catalog import order_config, templating
from catalog.models import CatalogItem, Category
from core.models import Project
from core.selectors import project_ids, project_list
from provisioning.models import CloudAccount


def _entitled(projects: QuerySet) -> Q:
    """Items open to everybody, or entitled to one of `projects` or to its organization."""
    item_projects = CatalogItem.projects.through.objects.filter(catalogitem=OuterRef("pk"))
    item_orgs = CatalogItem.organizations.through.objects.filter(catalogitem=OuterRef("pk"))
    return (
        (~Exists(item_projects) & ~Exists(item_orgs))
        | Exists(item_projects.filter(project__in=projects))
        | Exists(
            item_orgs.filter(
                organization__in=Project.objects.filter(pk__in=projects).values("organization")
            )
        )
    )


def catalog_item_list(*, user: AbstractUser) -> QuerySet[CatalogItem]:
    """Active items the user may order in at least one of their projects."""
    orderable = project_ids(user=user, perm="order_in_project")
    return (
        CatalogItem.objects.filter(is_active=True)
        .filter(_entitled(orderable))
        .select_related("category")
    )


def catalog_search(
    *, user: AbstractUser, text: str = "", category: str = ""
) -> QuerySet[CatalogItem]:
    """The user's catalog items whose name or description contains every word of `text`, in
    the category with slug `category` (any when empty)."""
    items = catalog_item_list(user=user)
    for word in text.split():
        items = items.filter(Q(name__icontains=word) | Q(description__icontains=word))
    if category:
        items = items.filter(category__slug=category)
    return items


def catalog_categories(*, user: AbstractUser) -> QuerySet[Category]:
    """The categories that hold at least one item the user may order (the menu's filter)."""
    return Category.objects.filter(items__in=catalog_item_list(user=user)).distinct()


def orderable_item(*, slug: str) -> CatalogItem | None:
    """The active item with this slug (from the order configuration cache)."""
    config = order_config.item_config(slug=slug)
    return config.item if config is not None and config.item.is_active else None


def item_offered_to_project(*, item: CatalogItem, project: Project) -> bool:
    """Entitlements: the item is open to all, or lists the project or its organization
    (read from the order configuration cache: this runs on every order)."""
    config = order_config.item_config(slug=item.slug)
    return (
        item.is_active
        and config is not None
        and config.item.pk == item.pk
        and config.offered_to(project)
    )


def projects_for_item(*, user: AbstractUser, item: CatalogItem) -> QuerySet[Project]:
    """The user's projects that may order the item (the order form's project choices)."""
    projects = project_list(user=user, perm="order_in_project")
    if not item.projects.exists() and not item.organizations.exists():
        return projects
    return projects.filter(
        Q(pk__in=item.projects.values("pk")) | Q(organization__in=item.organizations.values("pk"))
    )


def item_kinds(*, item: CatalogItem) -> set[str]:
    return {spec["kind"] for spec in item.resources}


def cloud_accounts_for_item(*, item: CatalogItem, project: Project) -> list[CloudAccount]:
    """The project's accounts that support every resource kind of the item."""
    kinds = item_kinds(item=item)
    return [
        account
        for account in order_config.project_accounts(project=project)
        if provisioning_selectors.account_supports(account=account, kinds=kinds)
    ]


def parameter_choices(
    *, item: CatalogItem, account: CloudAccount, options: dict | None = None
) -> dict[str, list[tuple]]:
    """(id, label) choices of the parameters whose options come from the account ("x-options").

    `"x-match": "windows"` keeps the options whose id or label contains that text, and
    `"x-os": "linux"` the images of that operating system family. `options`: the account's
    `cloud_account_options`, when the caller has them.
    """
    if options is None:
        options = provisioning_selectors.cloud_account_options(account=account)
    choices = {}
    for name, spec in item.parameters.get("properties", {}).items():
        if "x-options" not in spec:
            continue
        match = spec.get("x-match", "").lower()
        family = spec.get("x-os")
        choices[name] = [
            (option.id, option.label)
            for option in options[spec["x-options"]]
            if match in f"{option.id} {option.label}".lower()
            and family in (None, templating.os_family(option.id, option.label))
        ]
    return choices


def pricing_accounts() -> list[CloudAccount]:
    """The accounts `item_price_from` picks from, in order; load once when pricing many items."""
    return list(CloudAccount.objects.order_by("id"))


def item_price_from(
    *, item: CatalogItem, accounts: Sequence[CloudAccount] | None = None
) -> Decimal:
    """The monthly price with every choice at its first (smallest) option, on the first account
    able to provision the item. Pass `accounts` (`pricing_accounts()`) when pricing a list, so
    the accounts are not queried again for every item."""
    properties = item.parameters.get("properties", {})
    parameters = {
        name: spec["oneOf"][0]["const"] if "oneOf" in spec else spec.get("default")
        for name, spec in properties.items()
    }
    kinds = item_kinds(item=item)
    account = next(
        (
            account
            for account in (pricing_accounts() if accounts is None else accounts)
            if provisioning_selectors.account_supports(account=account, kinds=kinds)
        ),
        None,
    )
    if account is not None:
        for name, offered in parameter_choices(item=item, account=account).items():
            parameters[name] = offered[0][0] if offered else None
    return monthly_quote(
        cloud_account_id=account.pk if account else None,
        resources=resolve_resources(item=item, parameters=parameters),
    )


def resolve_resources(*, item: CatalogItem, parameters: dict) -> list[dict]:
    """The item's template bound to the order's parameters (schema defaults fill the gaps)."""
    return templating.resolve(
        item.resources, {**templating.parameter_defaults(item.parameters), **parameters}
    )


def catalog_export() -> dict:
    """The whole catalog as the document `catalog_load` reads (so it can live in git)."""
    items = CatalogItem.objects.select_related("category").prefetch_related(
        "organizations", "projects__organization"
    )
    return {
        "categories": [
            {"slug": c.slug, "name": c.name, "description": c.description}
            for c in Category.objects.order_by("slug")
        ],
        "items": [
            {
                "slug": item.slug,
                "name": item.name,
                "category": item.category.slug,
                "description": item.description,
                "is_active": item.is_active,
                "lease_default_days": item.lease_default_days,
                "lease_max_days": item.lease_max_days,
                "entitlements": {
                    "organizations": sorted(o.slug for o in item.organizations.all()),
                    "projects": sorted(
                        f"{p.organization.slug}/{p.slug}" for p in item.projects.all()
                    ),
                },
                "parameters": _in_form_order(item.parameters),
                "resources": item.resources,
            }
            for item in items.order_by("slug")
        ],
    }


def _in_form_order(schema: dict) -> dict:
    """The schema with its properties in form order, so an exported file reads like the form."""
    if not isinstance(schema.get("properties"), dict):
        return schema
    names = templating.parameter_names(schema)
    return {**schema, "properties": {name: schema["properties"][name] for name in names}}
