"""OpenStack (Nova) through libcloud's OpenStack driver: servers and their day-2 actions.

Credentials: `username`, `password`, `project_name`, and optionally `domain_name` (default
"Default"); `endpoint_url` is the Keystone URL (e.g. https://keystone.example:5000) and `region`
the service region. Servers are found by name (Nova has no tags in libcloud's API). Account
option `networks`: ids of the Neutron networks new servers join.
"""

from typing import Any

from libcloud.compute.base import Node, NodeImage, NodeSize
from libcloud.compute.drivers.openstack import OpenStack_2_NodeDriver

from provisioning.providers.base import ProviderError, register
from provisioning.providers.libcloud_common import SERVER_ACTIONS, ById, LibcloudAdapter


@register("openstack")
class OpenStackAdapter(LibcloudAdapter):
    credential_keys = ("username", "password", "project_name")
    capabilities = {"server": SERVER_ACTIONS}

    def __init__(self, account: Any) -> None:
        super().__init__(account)
        if not account.endpoint_url:
            raise ProviderError("An OpenStack account needs its Keystone URL as endpoint URL")

    def build_compute(self) -> OpenStack_2_NodeDriver:
        # Keystone v3 with a password; nothing is called until the first request.
        return OpenStack_2_NodeDriver(
            self.credentials["username"],
            self.credentials["password"],
            ex_force_auth_url=self.account.endpoint_url,
            ex_force_auth_version="3.x_password",
            ex_tenant_name=self.credentials["project_name"],
            ex_domain_name=self.account.credentials.get("domain_name") or "Default",
            ex_force_service_region=self.account.region or None,
        )

    def node_arguments(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "size": NodeSize(properties["size"], "", 0, 0, None, None, self.compute),
            "image": NodeImage(properties["image"], "", self.compute),
            "ex_metadata": {"canopy-id": name},
        }
        if properties.get("location"):
            arguments["ex_availability_zone"] = properties["location"]
        if properties.get("user_data"):
            arguments["ex_userdata"] = properties["user_data"]
        if properties.get("ssh_key"):
            arguments["ex_keyname"] = self.key_pair(name, properties["ssh_key"])
        networks = self.account.options.get("networks")
        if networks:
            arguments["networks"] = [ById(network_id) for network_id in networks]
        return arguments

    def after_destroy(self, node: Node) -> None:
        self.drop_key_pair(node.name)
