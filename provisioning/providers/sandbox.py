"""The embedded sandbox cloud: objects are rows of SandboxObject, so every worker sees them.

It supports every provider-level kind and action. Knobs in `CloudAccount.options`, so tests and
demos can exercise slow and failing clouds:
- `latency_ms`: simulated time of every call;
- `fail_on`: kinds whose create fails permanently;
- `transient_failure_rate`: 0..1 chance that a call raises a transient ProviderError, or a dict
  kind → rate. Half of the injected failures happen *after* the change took effect (like a
  timeout on the response), so retries must find the object instead of creating another.
- `fail_connection`: a message `test_connection` fails with.
- `load`: canopy name → load profile of a server, or of every server of an autoscaling group
  (set through `options_with_load`, which `provisioning.services.simulation` calls for any
  provider with the SIMULATED_LOAD feature): "busy" (the default), "idle", a number (CPU % held
  near it) or "wave:N" (high and low alternating with a period of N minutes). A server created
  for a group records the group's name, so it follows the group's profile. `simulated_metrics`
  simulates the series from it (the account's metrics source by default).

The sandbox's state is its own: its objects' rows and its account's options, never Canopy's
resources.
"""

import hashlib
import math
import random
import time
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from provisioning.models import SandboxObject
from provisioning.providers.base import (
    KINDS,
    LOCAL_OPTIONS,
    SIMULATED_LOAD,
    SIMULATED_METRICS,
    TAG_PREFIX,
    CloudObject,
    MetricMean,
    MetricPoint,
    Option,
    ProviderAdapter,
    ProviderError,
    SizeInfo,
    register,
)

SIZES = [SizeInfo("small", 1, 2), SizeInfo("medium", 2, 4), SizeInfo("large", 4, 8)]
LOCATIONS = [Option("sandbox-1a", "Sandbox zone 1a"), Option("sandbox-1b", "Sandbox zone 1b")]
IMAGES = [
    Option("ubuntu-24.04", "Ubuntu 24.04 LTS"),
    Option("debian-12", "Debian 12"),
    Option("windows-2022", "Windows Server 2022"),
]
SERVER_ACTIONS = frozenset({"create", "delete", "start", "stop", "reboot", "resize", "snapshot"})
ID_PREFIX = {
    "server": "i",
    "volume": "vol",
    "network": "net",
    "load_balancer": "lb",
    "dns_record": "dns",
}


# What a CloudObject is made of: listings read these columns alone (no model built per row).
LISTED = ("kind", "external_id", "name", "state", "size", "attributes", "public_ips", "private_ips")


def _cloud_object(obj: SandboxObject | Any) -> CloudObject:
    """`obj`: a SandboxObject, or a row of its LISTED columns."""
    attributes = {
        **obj.attributes,
        "public_ips": list(obj.public_ips),
        "private_ips": list(obj.private_ips),
    }
    if obj.size:
        attributes["size"] = obj.size
    return CloudObject(
        kind=obj.kind,
        external_id=obj.external_id,
        name=obj.name,
        state=obj.state,
        attributes=attributes,
    )


@register("sandbox")
class SandboxAdapter(ProviderAdapter):
    features = frozenset({LOCAL_OPTIONS, SIMULATED_LOAD, SIMULATED_METRICS})
    capabilities: ClassVar[dict[str, frozenset[str]]] = {
        "server": SERVER_ACTIONS,
        "volume": frozenset({"create", "delete", "snapshot", "extend"}),
        "network": frozenset({"create", "delete"}),
        "load_balancer": frozenset({"create", "delete", "set_members"}),
        "dns_record": frozenset({"create", "delete"}),
    }

    # --- injected behaviour ----------------------------------------------------------------
    def _transient_rate(self, kind: str) -> float:
        rate = self.account.options.get("transient_failure_rate", 0)
        if isinstance(rate, dict):
            rate = rate.get(kind, 0)
        return float(rate or 0)

    def _call(self, kind: str, what: str) -> bool:
        """Simulate the call's latency; decide whether it fails transiently.

        Returns True when the failure must be raised after the change (see `_after`); raises
        right away for the other half.
        """
        latency_ms = self.account.options.get("latency_ms", 0)
        if latency_ms:
            time.sleep(latency_ms / 1000)
        if random.random() >= self._transient_rate(kind):
            return False
        if random.random() < 0.5:
            raise ProviderError(f"RequestLimitExceeded: sandbox throttled {what}", transient=True)
        return True

    @staticmethod
    def _after(fail: bool, what: str) -> None:
        if fail:
            raise ProviderError(
                f"RequestTimeout: sandbox timed out answering {what}", transient=True
            )

    # --- lookups ---------------------------------------------------------------------------
    def _objects(self):
        return SandboxObject.objects.filter(account=self.account)

    def _get(self, kind: str, external_id: str) -> SandboxObject:
        obj = self._objects().filter(kind=kind, external_id=external_id).first()
        if obj is None:
            raise ProviderError(f"NotFound: {kind} {external_id} does not exist")
        return obj

    def test_connection(self) -> None:
        message = self.account.options.get("fail_connection")
        if message:
            raise ProviderError(str(message))

    def list_locations(self) -> list[Option]:
        return LOCATIONS

    def list_sizes(self) -> list[SizeInfo]:
        return SIZES

    def list_images(self) -> list[Option]:
        """The stock images, and the servers' snapshots (a new server may start from one)."""
        servers = self._objects().filter(kind="server", attributes__has_key="snapshots")
        return IMAGES + [
            Option(snapshot, f"Snapshot {snapshot} of {server.name}")
            for server in servers.order_by("id")
            for snapshot in server.attributes["snapshots"]
        ]

    def find(self, kind: str, name: str) -> CloudObject | None:
        self._call(kind, f"find {kind}")  # a lookup has no effect to fail after
        obj = self._objects().filter(kind=kind, name=name).order_by("id").first()
        return _cloud_object(obj) if obj else None

    def list_tagged(self, kinds: Collection[str] = KINDS) -> list[CloudObject]:
        tagged = self._objects().filter(name__startswith=TAG_PREFIX, kind__in=kinds).order_by("id")
        return [_cloud_object(row) for row in tagged.values_list(*LISTED, named=True)]

    def list_servers(self) -> list[CloudObject]:
        servers = []
        rows = self._objects().filter(kind="server").order_by("id")
        for obj in rows.values_list(*LISTED, "created_at", named=True):
            server = _cloud_object(obj)
            server.attributes.update(
                tags=dict(obj.attributes.get("tags") or {}), launched_at=obj.created_at.isoformat()
            )
            servers.append(server)
        return servers

    # --- changes ---------------------------------------------------------------------------
    def create(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        if kind not in KINDS:
            raise ProviderError(f"InvalidParameterValue: sandbox has no {kind!r}")
        fail_after = self._call(kind, f"create {kind}")
        if kind in self.account.options.get("fail_on", []):
            raise ProviderError(f"LimitExceeded: sandbox refused to create a {kind} (injected)")
        fields = getattr(self, f"_create_{kind}")(properties)
        token = uuid.uuid4().hex[:12]
        number = int(token, 16) % 250 + 1  # an address from the id: no count of the whole cloud
        obj = SandboxObject.objects.create(
            account=self.account,
            external_id=f"{ID_PREFIX[kind]}-{token}",
            name=name,
            kind=kind,
            state="running" if kind == "server" else "available",
            public_ips=[f"203.0.113.{number}"] if kind in ("server", "load_balancer") else [],
            private_ips=[f"10.0.0.{number}"] if kind == "server" else [],
            **fields,
        )
        self._after(fail_after, f"create {kind}")
        return _cloud_object(obj)

    def _create_server(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("size") not in {s.id for s in SIZES}:
            raise ProviderError(f"InvalidParameterValue: unknown size {p.get('size')!r}")
        image = p.get("image") or IMAGES[0].id
        if image not in {i.id for i in self.list_images()}:
            raise ProviderError(f"InvalidAMIID.NotFound: unknown image {image!r}")
        if p.get("network_id"):
            self._get("network", p["network_id"])
        return {
            "size": p["size"],
            "attributes": {
                "image": image,
                "location": p.get("location") or LOCATIONS[0].id,
                "network_id": p.get("network_id") or "",
                "ssh_key": p.get("ssh_key") or "",
                "has_user_data": bool(p.get("user_data")),
                "group": p.get("group") or "",
            },
        }

    def _create_volume(self, p: dict[str, Any]) -> dict[str, Any]:
        server = self._get("server", str(p.get("server_id", "")))
        return {
            "attributes": {"size_gb": int(p["size_gb"]), "server_id": server.external_id},
        }

    def _create_network(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"attributes": {"cidr": p.get("cidr", "10.0.0.0/16")}}

    def _check_members(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for member in members:
            self._get("server", member["id"])
        return [{"id": m["id"], "ip": m.get("ip", "")} for m in members]

    def _create_load_balancer(self, p: dict[str, Any]) -> dict[str, Any]:
        suffix = uuid.uuid4().hex[:8]
        return {
            "attributes": {
                "protocol": p.get("protocol", "http"),
                "port": int(p.get("port", 80)),
                "members": self._check_members(p.get("members", [])),
                "address": f"lb-{suffix}.sandbox.example",
            }
        }

    def _create_dns_record(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("address"):
            raise ProviderError("InvalidInput: a DNS record needs an address")
        return {
            "attributes": {
                "zone": p["zone"],
                "record": p["record"],
                "type": p.get("type", "A"),
                "address": p["address"],
                "fqdn": f"{p['record']}.{p['zone']}".rstrip("."),
            }
        }

    def delete(self, kind: str, external_id: str) -> None:
        fail_after = self._call(kind, f"delete {kind}")
        if kind == "server":
            # Detach volumes and leave load balancers first, as a real cloud requires.
            for volume in self._objects().filter(kind="volume", attributes__server_id=external_id):
                volume.attributes["server_id"] = ""
                volume.save(update_fields=["attributes"])
            for balancer in self._objects().filter(kind="load_balancer"):
                members = balancer.attributes.get("members", [])
                kept = [m for m in members if m["id"] != external_id]
                if kept != members:
                    balancer.attributes["members"] = kept
                    balancer.save(update_fields=["attributes"])
        self._objects().filter(kind=kind, external_id=external_id).delete()
        self._after(fail_after, f"delete {kind}")

    def act(self, kind: str, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        if not self.supports(kind, action):
            raise ProviderError(f"UnsupportedOperation: {action} on a sandbox {kind}")
        fail_after = self._call(kind, f"{action} {kind}")
        obj = self._get(kind, external_id)
        match action:
            case "start" | "reboot":
                obj.state = "running"
            case "stop":
                obj.state = "stopped"
            case "resize":
                if params.get("size") not in {s.id for s in SIZES}:
                    raise ProviderError(
                        f"InvalidParameterValue: unknown size {params.get('size')!r}"
                    )
                obj.size = params["size"]
            case "extend":
                size_gb = int(params.get("size_gb", 0))
                if size_gb < obj.attributes.get("size_gb", 0):
                    raise ProviderError("InvalidParameterValue: a volume cannot shrink")
                obj.attributes["size_gb"] = size_gb
            case "snapshot":
                snapshot = f"snap-{uuid.uuid4().hex[:12]}"
                obj.attributes["snapshots"] = [*obj.attributes.get("snapshots", []), snapshot]
            case "set_members":
                obj.attributes["members"] = self._check_members(params.get("members", []))
        obj.save()
        self._after(fail_after, f"{action} {kind}")
        return _cloud_object(obj)

    # --- simulated load and metrics --------------------------------------------------------
    def options_with_load(self, names: list[str], load: str | float) -> dict[str, Any]:
        """Kept on the account's options, under `load`."""
        profile = load_profile(load)
        loads = {
            name: value
            for name, value in (self.account.options.get("load") or {}).items()
            if name not in names
        }
        loads[names[0]] = profile
        return {**self.account.options, "load": loads}

    def _loads(self, objects: list[Any]) -> dict[str, str | float]:
        """Each server's load profile by external id (`objects`: SandboxObjects or rows with
        their external_id, name and attributes): its own, else its autoscaling group's (so
        future servers of the group inherit it), else busy."""
        loads = self.account.options.get("load") or {}
        profiles = {}
        for obj in objects:
            group = obj.attributes.get("group") or ""
            own = loads[obj.name] if obj.name in loads else loads.get(group, DEFAULT_LOAD)
            profiles[obj.external_id] = load_profile(own)
        return profiles

    def _simulated(
        self, external_ids: list[str], since: datetime, until: datetime, step: timedelta
    ) -> tuple[list[int], dict[str, tuple[list[float], list[float]]]]:
        """The instants (epoch seconds, multiples of `step`) in [since, until) and each known
        server's CPU and network readings at them, rounded as shown."""
        servers = self._objects().filter(kind="server", external_id__in=external_ids)
        # Rows, not models: a tick reads tens of thousands.
        objects = list(
            servers.values_list("external_id", "name", "state", "attributes", named=True)
        )
        profiles = self._loads(objects)
        seconds = max(int(step.total_seconds()), 1)
        first = math.ceil(since.timestamp() / seconds) * seconds
        instants = list(range(first, math.ceil(until.timestamp()), seconds))
        # Per read, not per point: each instant's key and each profile's shape.
        keys = [_instant_key(at) for at in instants]
        shapes: dict[str | float, tuple[list[float], float]] = {}
        readings = {}
        for obj in objects:
            if obj.state == "stopped":
                zeros = [0.0] * len(instants)
                readings[obj.external_id] = (zeros, zeros)
                continue
            profile = profiles[obj.external_id]
            if profile not in shapes:
                shapes[profile] = _shape(profile, instants)
            bases, amplitude = shapes[profile]
            seed = _seed(obj.external_id)
            cpus, networks = [], []
            for base, key in zip(bases, keys, strict=True):
                cpu_noise, network_noise = _noise(seed, key)
                cpu = min(max(base + amplitude * cpu_noise, 0.0), 100.0)
                cpus.append(round(cpu, 1))
                networks.append(round(cpu * NETWORK_KBPS_PER_CPU * (1 + 0.2 * network_noise), 1))
            readings[obj.external_id] = (cpus, networks)
        return instants, readings

    def simulated_metrics(
        self, external_ids: list[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, list[MetricPoint]]:
        """Deterministic series for these servers (two reads agree); a stopped server reports 0.

        Points sit on multiples of `step` since the epoch, and the simulated history starts
        before the server existed, so demos and tests need not wait for data.
        """
        instants, readings = self._simulated(external_ids, since, until, step)
        moments = [datetime.fromtimestamp(at, tz=UTC) for at in instants]
        return {
            external_id: [
                MetricPoint(at=moment, cpu_percent=cpu, network_kbps=network)
                for moment, cpu, network in zip(moments, cpus, networks, strict=True)
            ]
            for external_id, (cpus, networks) in readings.items()
        }

    def simulated_means(
        self, external_ids: list[str], since: datetime, until: datetime, step: timedelta
    ) -> dict[str, MetricMean]:
        """The means of `simulated_metrics`'s series, without building its points."""
        instants, readings = self._simulated(external_ids, since, until, step)
        if not instants:
            return {}
        count = len(instants)
        return {
            external_id: MetricMean(sum(cpus) / count, sum(networks) / count, count)
            for external_id, (cpus, networks) in readings.items()
        }


DEFAULT_LOAD = "busy"
DEFAULT_WAVE_MINUTES = 20
NETWORK_KBPS_PER_CPU = 12.0  # a busy web server at 50 % moves about 600 kbit/s


def load_profile(value: str | float) -> str | float:
    """Normalise a load profile: "busy", "idle", a CPU % (0..100) or "wave"/"wave:N" (minutes).

    Raises ValueError saying what is wrong.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip().lower()
        if text in ("busy", "idle"):
            return text
        if text == "wave" or text.startswith("wave:"):
            minutes = text.partition(":")[2] or str(DEFAULT_WAVE_MINUTES)
            if not minutes.isdigit() or int(minutes) < 1:
                raise ValueError(f"A wave needs a period of whole minutes, not {minutes!r}.")
            return f"wave:{int(minutes)}"
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"Unknown load {value!r}: use busy, idle, a CPU % or wave:<minutes>."
            ) from None
    if not 0 <= number <= 100:
        raise ValueError(f"A CPU load is a percentage (0..100), not {number:g}.")
    return number


def _seed(external_id: str) -> int:
    """The server's noise seed: one hash per server and read, not one per point."""
    return int.from_bytes(hashlib.sha256(external_id.encode()).digest()[:8], "big")


MASK64 = 2**64 - 1


def _instant_key(at: int) -> int:
    """splitmix64 of the instant: a well-mixed 64-bit key, computed once per instant and read."""
    z = (at * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def _noise(seed: int, key: int) -> tuple[float, float]:
    """Two values in -1..1 (CPU, network), the same for the same server and instant, so every
    read of a series agrees; one multiply-xorshift per point, cheap enough for hundreds of
    thousands of points a tick."""
    z = ((seed ^ key) * 0xBF58476D1CE4E5B9) & MASK64
    z ^= z >> 29
    return (z >> 32) / 2**31 - 1, (z & 0xFFFFFFFF) / 2**31 - 1


def _shape(profile: str | float, instants: list[int]) -> tuple[list[float], float]:
    """The profile's CPU % at each instant before noise, and the noise's amplitude."""
    match profile:
        case "idle":
            return [2.0] * len(instants), 1.5
        case "busy":
            # Office-hours shaped: a daily swing around 45 % (peak mid-afternoon UTC).
            return [45 + 15 * math.sin(2 * math.pi * (at / 86400 - 0.375)) for at in instants], 8.0
        case str() if profile.startswith("wave:"):
            period = int(profile.partition(":")[2]) * 60
            return [85.0 if at % period < period / 2 else 15.0 for at in instants], 5.0
        case _:
            return [float(profile)] * len(instants), 4.0
