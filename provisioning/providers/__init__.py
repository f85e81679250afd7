"""Provider adapters behind one interface; `get_adapter(account)` picks the right one."""

from provisioning.models import CloudAccount
from provisioning.providers.base import ProviderAdapter, ProviderError, ServerInfo, SizeInfo
from provisioning.providers.sandbox import SandboxAdapter

REGISTRY: dict[str, type[ProviderAdapter]] = {
    CloudAccount.Provider.SANDBOX: SandboxAdapter,
}


def get_adapter(account: CloudAccount) -> ProviderAdapter:
    return REGISTRY[account.provider](account)


__all__ = ["REGISTRY", "ProviderAdapter", "ProviderError", "ServerInfo", "SizeInfo", "get_adapter"]
