"""The one interface the rest of Canopy calls. Adapters return these dataclasses, never a
provider library's objects."""

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from provisioning.models import CloudAccount


class ProviderError(Exception):
    """A provider refused or failed a call; the message is the provider's, shown to users."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class SizeInfo:
    id: str
    vcpus: int
    ram_gb: int

    @property
    def label(self) -> str:
        return f"{self.id} — {self.vcpus} vCPU, {self.ram_gb} GB RAM"


@dataclass(frozen=True)
class ServerInfo:
    external_id: str
    name: str
    state: str  # "running" | "stopped"
    public_ips: list[str] = field(default_factory=list)
    private_ips: list[str] = field(default_factory=list)


class ProviderAdapter(ABC):
    def __init__(self, account: CloudAccount) -> None:
        self.account = account

    @abstractmethod
    def list_sizes(self) -> list[SizeInfo]: ...

    @abstractmethod
    def find_server(self, name: str) -> ServerInfo | None:
        """The server carrying Canopy's name/tag, if the provider has it."""

    @abstractmethod
    def create_server(self, *, name: str, size: str) -> ServerInfo: ...

    @abstractmethod
    def start_server(self, external_id: str) -> ServerInfo: ...

    @abstractmethod
    def stop_server(self, external_id: str) -> ServerInfo: ...

    @abstractmethod
    def reboot_server(self, external_id: str) -> ServerInfo: ...

    @abstractmethod
    def destroy_server(self, external_id: str) -> None:
        """Delete the server; deleting one that is already gone succeeds."""

    def ensure_server(self, *, name: str, size: str) -> ServerInfo:
        """Create the server unless a previous attempt already did (steps may run twice)."""
        return self.find_server(name) or self.create_server(name=name, size=size)
