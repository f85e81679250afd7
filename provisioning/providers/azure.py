"""Microsoft Azure (Resource Manager) through libcloud's Azure driver: servers and their day-2
actions.

Credentials: a service principal's `tenant_id`, `subscription_id`, `client_id` and
`client_secret`; `region` is the location (e.g. "westeurope"). Account options: `resource_group`
(required, where servers live), `network` and `subnet` (an existing virtual network new servers
join), `images` (image URNs "publisher:offer:sku:version" offered in forms: Azure's image catalog
is too big to list). Servers carry Canopy's name as their name and as the `canopy-id` tag.
"""

import secrets
from typing import Any

from libcloud.compute.base import NodeAuthPassword, NodeAuthSSHKey, NodeSize
from libcloud.compute.drivers.azure_arm import AzureImage, AzureNodeDriver

from provisioning.providers.base import Option, ProviderError, register
from provisioning.providers.libcloud_common import SERVER_ACTIONS, LibcloudAdapter


@register("azure")
class AzureAdapter(LibcloudAdapter):
    credential_keys = ("tenant_id", "subscription_id", "client_id", "client_secret")
    capabilities = {"server": SERVER_ACTIONS}

    def __init__(self, account: Any) -> None:
        super().__init__(account)
        if not account.options.get("resource_group"):
            raise ProviderError("An Azure account needs the option resource_group")
        if not account.region:
            raise ProviderError("An Azure account needs its location as region")

    def build_compute(self) -> AzureNodeDriver:
        return AzureNodeDriver(
            self.credentials["tenant_id"],
            self.credentials["subscription_id"],
            self.credentials["client_id"],
            self.credentials["client_secret"],
            region=self.account.region,
        )

    def list_images(self) -> list[Option]:
        return [Option(urn, urn) for urn in self.account.options.get("images", [])]

    def node_arguments(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        urn = properties["image"].split(":")
        if len(urn) != 4:
            raise ProviderError(
                f"InvalidParameterValue: Azure image {properties['image']!r} is not a URN "
                '"publisher:offer:sku:version"'
            )
        publisher, offer, sku, version = urn
        wanted = properties.get("location") or self.account.region
        location = next((loc for loc in self.compute.list_locations() if loc.id == wanted), None)
        options = self.account.options
        # Without an SSH key Azure wants a password; nobody needs to know it.
        auth = (
            NodeAuthSSHKey(properties["ssh_key"])
            if properties.get("ssh_key")
            else NodeAuthPassword(secrets.token_urlsafe(24))
        )
        return {
            "size": NodeSize(properties["size"], "", 0, 0, None, None, self.compute),
            "image": AzureImage(version, sku, offer, publisher, wanted, self.compute),
            "auth": auth,
            "ex_resource_group": options["resource_group"],
            "location": location,
            "ex_network": options.get("network"),
            "ex_subnet": options.get("subnet"),
            "ex_tags": {"canopy-id": name},
            "ex_customdata": properties.get("user_data") or "",
            "ex_use_managed_disks": True,
        }
