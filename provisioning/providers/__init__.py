"""Provider adapters behind one interface; `get_adapter(account)` picks the right one."""

from provisioning.models import CloudAccount
from provisioning.providers.azure import AzureAdapter
from provisioning.providers.base import (
    CloudObject,
    Option,
    ProviderAdapter,
    ProviderError,
    SizeInfo,
)
from provisioning.providers.ec2 import Ec2Adapter
from provisioning.providers.gce import GceAdapter
from provisioning.providers.openstack import OpenStackAdapter
from provisioning.providers.sandbox import SandboxAdapter

REGISTRY: dict[str, type[ProviderAdapter]] = {
    CloudAccount.Provider.SANDBOX: SandboxAdapter,
    CloudAccount.Provider.EC2: Ec2Adapter,
    CloudAccount.Provider.OPENSTACK: OpenStackAdapter,
    CloudAccount.Provider.GCE: GceAdapter,
    CloudAccount.Provider.AZURE: AzureAdapter,
}


def get_adapter(account: CloudAccount) -> ProviderAdapter:
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
