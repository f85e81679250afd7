"""The one interface the rest of Canopy calls. Adapters return these dataclasses, never a
provider library's objects.

Kinds are the provider-level ones (`server`, `volume`, `network`, `load_balancer`,
`dns_record`); databases and autoscaling groups are built by the provisioning saga from servers
and load balancers. Every object carries the name `canopy-<resource pk>` (tag `Name` and
`canopy-id` where the provider has tags), so a repeated step finds it instead of creating another.

Adapters register themselves (`@register("ec2")`) with their capabilities: the kinds and actions
they support, and `features` beyond them. This module knows no model: an adapter is handed its
account as anything with the fields of `Account`.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, NamedTuple, Protocol

KINDS = ("server", "volume", "network", "load_balancer", "dns_record")
ACTIONS = (
    "create",
    "delete",
    "start",
    "stop",
    "reboot",
    "resize",
    "snapshot",
    "extend",
    "set_members",
)
TAG_PREFIX = "canopy-"
# Features an adapter may have beyond kinds and actions:
# - LOCAL_OPTIONS: lists its locations, sizes and images without calling a remote cloud, so they
#   are read in place rather than fetched by a worker;
# - SIMULATED_LOAD: takes a load profile per server (`options_with_load`);
# - SIMULATED_METRICS: simulates its servers' metrics (`simulated_metrics`).
LOCAL_OPTIONS, SIMULATED_LOAD, SIMULATED_METRICS = (
    "local_options",
    "simulated_load",
    "simulated_metrics",
)


class ProviderError(Exception):
    """A provider refused or failed a call; the message is the provider's, shown to users.

    `transient` errors (throttling, timeouts, capacity hiccups) are retried with backoff; any
    other error is permanent and makes the saga compensate.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class SizeInfo:
    id: str
    vcpus: int
    ram_gb: float
    label: str = ""
    disk_gb: int = 0

    def __post_init__(self) -> None:
        if not self.label:
            # Frozen: set the derived default through object.__setattr__.
            object.__setattr__(
                self, "label", f"{self.id} — {self.vcpus} vCPU, {self.ram_gb:g} GB RAM"
            )


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class CloudObject:
    kind: str
    external_id: str
    name: str
    state: str
    # e.g. public_ips, private_ips, address, fqdn, size, size_gb, members
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricPoint:
    """One interval of a server's utilisation, averaged over the interval that starts at `at`."""

    at: datetime
    cpu_percent: float  # 0..100
    network_kbps: float  # in + out


class MetricMean(NamedTuple):
    """A server's mean utilisation over a window, and how many points it is the mean of."""

    cpu_percent: float
    network_kbps: float
    points: int


def points_mean(points: Sequence[MetricPoint]) -> MetricMean | None:
    """The mean of `points`, unrounded (callers round to what they show); None when none."""
    if not points:
        return None
    return MetricMean(
        sum(p.cpu_percent for p in points) / len(points),
        sum(p.network_kbps for p in points) / len(points),
        len(points),
    )


class Account(Protocol):
    """What an adapter reads of its cloud account (`provisioning.models.CloudAccount`)."""

    pk: int
    name: str
    provider: str
    region: str
    endpoint_url: str
    options: dict[str, Any]
    credentials: dict[str, str]


class ProviderAdapter(ABC):
    """One cloud account's provider. Subclasses declare what they can do in `capabilities`
    (kind → actions) and `features`."""

    capabilities: ClassVar[dict[str, frozenset[str]]] = {}
    features: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, account: Account) -> None:
        self.account = account

    def supports(self, kind: str, action: str) -> bool:
        return action in self.capabilities.get(kind, frozenset())

    def options_with_load(self, names: list[str], load: str | float) -> dict[str, Any]:
        """The account's options once the servers named `names[0]` (a server, or an autoscaling
        group whose servers follow it) simulate `load`, and the others (the group's servers) drop
        a profile of their own. Only adapters with the SIMULATED_LOAD feature simulate a load;
        raises ValueError saying what is wrong with `load`."""
        raise ProviderError(f"{self.account.provider} servers have no simulated load")

    def simulated_metrics(
        self, external_ids: list[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, list[MetricPoint]]:
        """These servers' simulated series (adapters with the SIMULATED_METRICS feature)."""
        raise ProviderError(f"{self.account.provider} servers have no simulated metrics")

    def simulated_means(
        self, external_ids: list[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, MetricMean]:
        """The means of `simulated_metrics`'s series, computed without its points."""
        raise ProviderError(f"{self.account.provider} servers have no simulated metrics")

    @abstractmethod
    def test_connection(self) -> None:
        """Raise ProviderError saying what failed (credentials, endpoint, region…)."""

    @abstractmethod
    def list_locations(self) -> list[Option]: ...

    @abstractmethod
    def list_sizes(self) -> list[SizeInfo]: ...

    @abstractmethod
    def list_images(self) -> list[Option]: ...

    @abstractmethod
    def find(self, kind: str, name: str) -> CloudObject | None:
        """The object of this kind carrying Canopy's name/tag, if the provider has it."""

    @abstractmethod
    def create(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        """Create with concrete properties:

        server {size, image, location, ssh_key?, user_data?, network_id?, group?} (`group`: the
        Canopy name of the autoscaling group it belongs to, for the provider to tag);
        volume {size_gb, server_id, location?}; network {cidr, location?};
        load_balancer {protocol, port, members: [{"id": server external id, "ip": str}]};
        dns_record {zone, record, type, address}.
        """

    @abstractmethod
    def delete(self, kind: str, external_id: str) -> None:
        """Delete the object; one already gone is a success. Volumes are detached first."""

    @abstractmethod
    def act(self, kind: str, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        """start/stop/reboot, resize {size}, snapshot, extend {size_gb}, set_members {members}."""

    @abstractmethod
    def list_tagged(self, kinds: Collection[str] = KINDS) -> list[CloudObject]:
        """Every object of these kinds whose name/tag starts with "canopy-" (for the
        reconciler)."""

    @abstractmethod
    def list_servers(self) -> list[CloudObject]:
        """Every live server of the account, Canopy's or not (the reconciler's brownfield
        report), with what is known in `attributes`: size, tags (dict), launched_at (ISO 8601,
        or "")."""

    def ensure(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        """Create the object unless a previous attempt already did (steps may run twice)."""
        return self.find(kind, name) or self.create(kind, name, properties)


# Provider name (`CloudAccount.provider`) → its adapter class, filled by `register`.
REGISTRY: dict[str, type[ProviderAdapter]] = {}


def register(provider: str) -> Callable[[type[ProviderAdapter]], type[ProviderAdapter]]:
    """Class decorator: the adapter of `provider`'s accounts."""

    def decorate(adapter_class: type[ProviderAdapter]) -> type[ProviderAdapter]:
        REGISTRY[provider] = adapter_class
        return adapter_class

    return decorate
