"""The embedded sandbox cloud: servers are rows of SandboxObject, so every worker sees them.

Knobs in `CloudAccount.options`: `latency_ms` (simulated call time) and `fail_on` (resource kinds
whose create fails permanently), so tests and demos can exercise slow and failing clouds.
"""

import time
import uuid

from provisioning.models import SandboxObject
from provisioning.providers.base import ProviderAdapter, ProviderError, ServerInfo, SizeInfo

SIZES = [SizeInfo("small", 1, 2), SizeInfo("medium", 2, 4), SizeInfo("large", 4, 8)]


def _info(obj: SandboxObject) -> ServerInfo:
    return ServerInfo(
        external_id=obj.external_id,
        name=obj.name,
        state=obj.state,
        public_ips=obj.public_ips,
        private_ips=obj.private_ips,
    )


class SandboxAdapter(ProviderAdapter):
    def _call(self) -> None:
        latency_ms = self.account.options.get("latency_ms", 0)
        if latency_ms:
            time.sleep(latency_ms / 1000)

    def _get(self, external_id: str) -> SandboxObject:
        try:
            return SandboxObject.objects.get(account=self.account, external_id=external_id)
        except SandboxObject.DoesNotExist:
            raise ProviderError(
                f"InvalidInstanceID.NotFound: {external_id} does not exist"
            ) from None

    def _set_state(self, external_id: str, state: str) -> ServerInfo:
        self._call()
        obj = self._get(external_id)
        obj.state = state
        obj.save(update_fields=["state"])
        return _info(obj)

    def list_sizes(self) -> list[SizeInfo]:
        return SIZES

    def find_server(self, name: str) -> ServerInfo | None:
        obj = SandboxObject.objects.filter(account=self.account, name=name, kind="server").first()
        return _info(obj) if obj else None

    def create_server(self, *, name: str, size: str) -> ServerInfo:
        self._call()
        if "server" in self.account.options.get("fail_on", []):
            raise ProviderError("InsufficientInstanceCapacity: sandbox refused to create a server")
        if size not in {s.id for s in SIZES}:
            raise ProviderError(f"InvalidParameterValue: unknown size {size!r}")
        number = SandboxObject.objects.count() % 250 + 1
        obj = SandboxObject.objects.create(
            account=self.account,
            external_id=f"sbx-{uuid.uuid4().hex[:12]}",
            name=name,
            kind="server",
            state="running",
            size=size,
            public_ips=[f"203.0.113.{number}"],
            private_ips=[f"10.0.0.{number}"],
        )
        return _info(obj)

    def start_server(self, external_id: str) -> ServerInfo:
        return self._set_state(external_id, "running")

    def stop_server(self, external_id: str) -> ServerInfo:
        return self._set_state(external_id, "stopped")

    def reboot_server(self, external_id: str) -> ServerInfo:
        return self._set_state(external_id, "running")

    def destroy_server(self, external_id: str) -> None:
        self._call()
        SandboxObject.objects.filter(account=self.account, external_id=external_id).delete()
