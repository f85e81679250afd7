"""Cloud accounts: created, changed and deleted by their organization's admins (credentials
encrypted, never shown back), their connection tested, and their options (locations, sizes,
images) fetched from the provider into the cache by workers."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models.signals import post_save
from django.utils import timezone

from core.models import Organization
from core.services import audit_record
from provisioning.models import CloudAccount
from provisioning.providers import REGISTRY, ProviderError, get_adapter
from provisioning.providers.base import LOCAL_OPTIONS
from provisioning.providers.metrics import metrics_settings_problems
from provisioning.selectors import options_cache_key, options_stale, organization_administered

ACCOUNT_FIELDS = ("name", "provider", "region", "endpoint_url", "options")


def cloud_account_validate(
    *, organization: Organization, data: dict, account: CloudAccount | None = None
) -> None:
    """Check an account's fields as the create/update services take them (API and admin);
    `account`: the one being changed."""
    credentials = data.get("credentials")
    if credentials is not None and (
        not isinstance(credentials, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in credentials.items())
    ):
        raise ValidationError({"credentials": ["An object of text values is expected."]})
    if "options" in data and not isinstance(data["options"], dict):
        raise ValidationError({"options": ["An object of provider knobs is expected."]})
    provider = data.get("provider") or (account.provider if account else "")
    problems = metrics_settings_problems(data.get("options") or {}, provider)
    if problems:
        raise ValidationError({"options": problems})
    foreign = [p.name for p in data.get("projects", []) if p.organization_id != organization.pk]
    if foreign:
        raise ValidationError({"projects": [f"Not in {organization}: {', '.join(foreign)}."]})


def _save_account(account: CloudAccount, data: dict) -> CloudAccount:
    for name in ACCOUNT_FIELDS:
        if name in data:
            setattr(account, name, data[name])
    if data.get("credentials") is not None:
        account.credentials = data["credentials"]
    account.full_clean(exclude=["organization"])
    account.save()
    if "projects" in data:
        account.projects.set(data["projects"])
    cache.delete(options_cache_key(account.pk))
    return account


@transaction.atomic
def cloud_account_create(
    *, user: AbstractUser, organization: Organization, data: dict
) -> CloudAccount:
    if not organization_administered(user=user, organization=organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    cloud_account_validate(organization=organization, data=data)
    account = _save_account(CloudAccount(organization=organization), data)
    audit_record(action="cloud_account.created", target=account, actor=user, message=account.name)
    return account


def _changed_fields(account: CloudAccount, data: dict) -> list[str]:
    """The fields `data` really changes (the admin sends every field, the API only some)."""
    changed = sorted(
        name
        for name in ACCOUNT_FIELDS
        if name in data and (data[name] or "") != (getattr(account, name) or "")
    )
    if "projects" in data and {p.pk for p in data["projects"]} != set(
        account.projects.values_list("pk", flat=True)
    ):
        changed = sorted([*changed, "projects"])
    if data.get("credentials") is not None:
        changed.append("credentials")  # named, never compared or shown
    return changed


@transaction.atomic
def cloud_account_update(*, user: AbstractUser, account: CloudAccount, data: dict) -> CloudAccount:
    account = CloudAccount.objects.select_for_update().get(pk=account.pk)
    if not organization_administered(user=user, organization=account.organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    cloud_account_validate(organization=account.organization, data=data, account=account)
    changed = _changed_fields(account, data)
    account = _save_account(account, data)
    # The audit names what changed, never the credentials' values.
    audit_record(
        action="cloud_account.updated", target=account, actor=user, message=", ".join(changed)
    )
    return account


@transaction.atomic
def cloud_account_delete(*, user: AbstractUser, account: CloudAccount) -> None:
    """Delete an account nothing provisioned depends on (the database protects those)."""
    account = CloudAccount.objects.select_for_update().get(pk=account.pk)
    if not organization_administered(user=user, organization=account.organization):
        raise PermissionDenied("Only the organization's admins manage its cloud accounts.")
    audit_record(action="cloud_account.deleted", target=account, actor=user, message=account.name)
    account.delete()  # its cached options go with it: account_options_reset


def account_options_reset(*, instance: CloudAccount, created: bool = True, **kwargs: Any) -> None:
    """Receiver of CloudAccount's post_save and post_delete: drop the options cached under a new
    or deleted account's id, however the row was written. They belong to another account:
    SQLite, the embedded mode, gives a new row the id of the last one deleted. A new account
    whose adapter lists its options in place (the sandbox) has them cached at once."""
    if not created:
        return
    cache.delete(options_cache_key(instance.pk))
    adapter_class = REGISTRY.get(instance.provider)
    if kwargs.get("signal") is post_save and LOCAL_OPTIONS in getattr(
        adapter_class, "features", ()
    ):
        account_options_refresh(account_id=instance.pk)


def cloud_account_test(*, user: AbstractUser | None, account: CloudAccount) -> str:
    """Check the connection; returns "" when it works, else what failed (also audited)."""
    try:
        get_adapter(account).test_connection()
    except ProviderError as error:
        problem = str(error) or "the provider refused the connection"
    except Exception as error:  # a library's own error (DNS, TLS…): still say what failed
        problem = f"{type(error).__name__}: {error}"
    else:
        problem = ""
    audit_record(
        action="cloud_account.tested",
        target=account,
        actor=user,
        message=problem or "connection works",
    )
    return problem


def account_options_refresh(*, account_id: int) -> dict[str, Any] | None:
    """Fetch the account's locations, sizes and images into the cache (a worker's job)."""
    account = CloudAccount.objects.filter(pk=account_id).first()
    if account is None:
        return None
    try:
        adapter = get_adapter(account)
        entry = {
            "locations": adapter.list_locations(),
            "sizes": adapter.list_sizes(),
            "images": adapter.list_images(),
            "fetched_at": timezone.now().timestamp(),
        }
    except ProviderError:
        return cache.get(options_cache_key(account_id))  # keep serving what we had
    cache.set(options_cache_key(account_id), entry, timeout=None)
    return entry


def account_options_refresh_all() -> int:
    ids = list(CloudAccount.objects.values_list("pk", flat=True))
    for account_id in ids:
        account_options_refresh(account_id=account_id)
    return len(ids)


def account_options_request(*, account: CloudAccount) -> None:
    """Ask a worker to fetch the account's options when its cached entry is missing or stale
    (the order form calls it: the next read is fresh); an adapter that lists them in place
    needs none. An optimisation: a broker that is down is logged, and the next request asks
    again."""
    adapter_class = REGISTRY.get(account.provider)
    local = adapter_class is not None and LOCAL_OPTIONS in adapter_class.features
    if not local and options_stale(cache.get(options_cache_key(account.pk))):
        transaction.on_commit(
            lambda: current_app.send_task(
                "provisioning.tasks.refresh_account_options", args=[account.pk]
            ),
            robust=True,
        )
