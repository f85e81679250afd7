"""The configuration every order request reads, kept in each process's memory: the catalog item
with its entitlements, the project, the project's cloud accounts and their rate cards.

Administrators change these rarely and every order reads all of them, so asking PostgreSQL
each time cost an order request more than everything else it does. Why a cached value is
never wrong for long, and never someone else's:

- Every save, delete or many-to-many change of a model they come from (`SOURCES`; the signals
  are connected in `CatalogConfig.ready`, so in every process that can write) drops what the
  writing process holds and stores a new generation in the shared cache, at once and again
  when its transaction commits (a process that read the old rows in between reloads them after
  the commit). While serving requests, a process reads the generation at most once every
  `CHECK_INTERVAL` seconds (outside requests, every time) and drops everything it holds when
  it changed: another process's change is seen within that interval.
- An entry lives at most `TTL` seconds: that bounds how long a write that sends no signal
  (`QuerySet.update()`, SQL by hand) goes unseen.
- Entries are keyed by what the database keys them by (item slug, project id, account id) and
  hold exactly the rows a query would return; the checks that depend on the person or on live
  figures (project permission, quotas, budgets, policies) are never cached.
- Callers get copies of the cached model instances, so nothing one request sets on them (an
  order's related-object cache, say) reaches another.

The generation's read also fetches the provider options of the account whose options this
process read last (`account_options`), and the options served are kept until the next read:
an order request makes one cache round trip at most, and none within `CHECK_INTERVAL` of the
last one. The options themselves are cached and refreshed by `provisioning`, not here.
"""

import copy
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

import provisioning.selectors as provisioning_selectors
from billing.pricing import card_rates
from catalog.models import CatalogItem
from core.models import Project
from provisioning.models import CloudAccount

GENERATION_KEY = "catalog:order-config-generation"
TTL = 30.0  # seconds
CHECK_INTERVAL = 1.0  # seconds between two reads of the generation while serving requests
MAX_ENTRIES = 10_000  # a bound on memory; reached only by a very large catalog

# The models whose rows are cached here (or decide what is): item, its entitlement links,
# project, accounts and their project links, rate cards and rates.
SOURCES = (
    "catalog.CatalogItem",
    "catalog.CatalogItem_projects",
    "catalog.CatalogItem_organizations",
    "core.Project",
    "provisioning.CloudAccount",
    "provisioning.CloudAccount_projects",
    "billing.RateCard",
    "billing.Rate",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ItemConfig:
    """An item and the projects and organizations it is entitled to (empty: open to all)."""

    item: CatalogItem
    projects: frozenset[int]
    organizations: frozenset[int]

    def offered_to(self, project: Project) -> bool:
        if not self.projects and not self.organizations:
            return True
        return project.pk in self.projects or project.organization_id in self.organizations


class _State(threading.local):
    in_request = False


_state = _State()
_entries: dict[tuple, tuple[float, Any]] = {}
_generation: object = object()  # matches no stored generation: the first read clears
_checked_at = -math.inf  # time.monotonic() of the last read of the generation
_prefetched: dict[str, Any] = {}  # the cache entries read with it (replaced, never mutated)
_prefetched_key: str | None = None  # the options entry asked for with it (None: none asked)
_options: dict[int, dict[str, list]] = {}  # account options served since then, by account id
_options_key: str | None = None  # the options entry this process read last


def item_config(*, slug: str) -> ItemConfig | None:
    """The item with this slug and its entitlements (None when there is no such item)."""

    def load() -> ItemConfig | None:
        item = CatalogItem.objects.filter(slug=slug).first()
        if item is None:
            return None
        links = CatalogItem.projects.through.objects.filter(catalogitem=item.pk)
        org_links = CatalogItem.organizations.through.objects.filter(catalogitem=item.pk)
        return ItemConfig(
            item=item,
            projects=frozenset(links.values_list("project_id", flat=True)),
            organizations=frozenset(org_links.values_list("organization_id", flat=True)),
        )

    config = _cached(("item", slug), load, keep_none=False)
    return replace(config, item=copy.copy(config.item)) if config else None


def project(*, pk: int) -> Project | None:
    found = _cached(("project", pk), lambda: Project.objects.filter(pk=pk).first(), keep_none=False)
    return copy.copy(found)


def project_accounts(*, project: Project) -> tuple[CloudAccount, ...]:
    """`provisioning.selectors.cloud_accounts_for_project`, in its order."""
    accounts = _cached(
        ("accounts", project.pk),
        lambda: tuple(provisioning_selectors.cloud_accounts_for_project(project=project)),
    )
    return tuple(copy.copy(account) for account in accounts)


def rates(*, cloud_account_id: int) -> tuple:
    """The rates `billing.pricing` prices the account with (its card and the default card);
    shared, not copied: a PriceBook only reads them."""
    return _cached(("rates", cloud_account_id), lambda: tuple(card_rates([cloud_account_id])))


def account_options(*, account: CloudAccount) -> dict[str, list]:
    """`provisioning.selectors.cloud_account_options`, from the entry read together with the
    generation when it is the one this process read last; until the next read of the
    generation, the same answer (shared, not copied: callers only read it)."""
    global _options, _options_key
    _check_generation()
    found = _options.get(account.pk)
    if found is None:
        key = provisioning_selectors.options_cache_key(account.pk)
        found = provisioning_selectors.cloud_account_options(
            account=account, entry=_prefetched.get(key), entry_read=key == _prefetched_key
        )
        _options, _options_key = {**_options, account.pk: found}, key
    return found


def _cached(key: tuple, load: Callable[[], T], *, keep_none: bool = True) -> T:
    _check_generation()
    now = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and now - hit[0] < TTL:
        return hit[1]
    value = load()
    if value is not None or keep_none:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (now, value)
    return value


def _check_generation() -> None:
    global _generation, _checked_at, _prefetched, _prefetched_key, _options
    now = time.monotonic()
    if _state.in_request and now - _checked_at < CHECK_INTERVAL:
        return
    found = cache.get_many([GENERATION_KEY, _options_key] if _options_key else [GENERATION_KEY])
    generation = found.pop(GENERATION_KEY, None)
    if generation is None:
        # Never stored, evicted, or the cache is down (it then answers nothing): another
        # process's change could go unseen, so nothing is kept and every call reads the
        # database until a generation is stored again.
        _bump()
        now = -math.inf
    if generation is None or generation != _generation:
        _entries.clear()
        _generation = generation
    _checked_at, _prefetched, _prefetched_key, _options = now, found, _options_key, {}


def _request_started(**kwargs: Any) -> None:
    _state.in_request = True


def _request_finished(**kwargs: Any) -> None:
    _state.in_request = False


def changed(**kwargs: Any) -> None:
    """A source row changed: forget what this process holds, store a new generation now and
    another once the change is committed."""
    global _options
    _entries.clear()
    _options = {}
    _bump()
    transaction.on_commit(_bump, using=kwargs.get("using"))


def _bump() -> None:
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)


def connect_signals() -> None:
    for sender in SOURCES:
        post_save.connect(changed, sender=sender, dispatch_uid=f"order-config-save-{sender}")
        post_delete.connect(changed, sender=sender, dispatch_uid=f"order-config-del-{sender}")
    for sender in ("catalog.CatalogItem_projects", "catalog.CatalogItem_organizations",
                   "provisioning.CloudAccount_projects"):  # fmt: skip
        m2m_changed.connect(changed, sender=sender, dispatch_uid=f"order-config-m2m-{sender}")
    request_started.connect(_request_started, dispatch_uid="order-config-request-started")
    request_finished.connect(_request_finished, dispatch_uid="order-config-request-finished")
