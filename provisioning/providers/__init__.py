"""Provider adapters behind one interface; `get_adapter(account)` picks the right one.

Importing this package installs every adapter: each module registers its class (see
`base.register`), so `REGISTRY` lists the providers Canopy can talk to and what each can do.
"""

from provisioning.providers import azure, ec2, gce, openstack, sandbox  # noqa: F401 (register)
from provisioning.providers.base import (
    REGISTRY,
    Account,
    CloudObject,
    Option,
    ProviderAdapter,
    ProviderError,
    SizeInfo,
)


def get_adapter(account: Account) -> ProviderAdapter:
    try:
        adapter_class = REGISTRY[account.provider]
    except KeyError:
        raise ProviderError(f"No adapter is installed for provider {account.provider!r}") from None
    return adapter_class(account)


__all__ = [
    "REGISTRY",
    "CloudObject",
    "Option",
    "ProviderAdapter",
    "ProviderError",
    "SizeInfo",
    "get_adapter",
]
