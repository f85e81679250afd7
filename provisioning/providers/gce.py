"""Google Compute Engine through libcloud's GCE driver: servers and their day-2 actions.

Credentials are a service account's JSON key as Google issues it (at least `client_email`,
`private_key` and `project_id`); `region` is the default zone (e.g. "europe-west1-b"). GCE names
are unique per zone, so Canopy's name is the instance name; it is also the `canopy-id` label.
Account option `ssh_user`: the login created for the requester's SSH key (default "canopy").
"""

from typing import Any

from libcloud.compute.drivers.gce import GCENodeDriver

from provisioning.providers.base import register
from provisioning.providers.libcloud_common import SERVER_ACTIONS, LibcloudAdapter


@register("gce")
class GceAdapter(LibcloudAdapter):
    credential_keys = ("client_email", "private_key", "project_id")
    capabilities = {"server": SERVER_ACTIONS}

    def build_compute(self) -> GCENodeDriver:
        # The driver authenticates (and looks the zone up) when it is built: on first use.
        return GCENodeDriver(
            self.credentials["client_email"],
            dict(self.account.credentials),  # the JSON key itself, as libcloud accepts it
            project=self.credentials["project_id"],
            auth_type="SA",
            datacenter=self.account.region or None,
        )

    def node_arguments(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        metadata = {}
        if properties.get("user_data"):
            metadata["user-data"] = properties["user_data"]  # read by cloud-init on GCE images
        if properties.get("ssh_key"):  # GCE's guest agent creates the user named before the key
            user = self.account.options.get("ssh_user", "canopy")
            metadata["ssh-keys"] = f"{user}:{properties['ssh_key']}"
        return {
            "size": properties["size"],
            "image": properties["image"],
            "location": properties.get("location") or self.account.region or None,
            "ex_metadata": metadata or None,
            "ex_labels": {"canopy-id": name},
        }
