"""What every libcloud-based adapter shares: turning libcloud's errors into ProviderError,
reading credentials and the endpoint URL, and servers through libcloud's common NodeDriver API."""

import re
import socket
import ssl
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from libcloud.common.exceptions import BaseHTTPError
from libcloud.common.types import InvalidCredsError, LibcloudError
from libcloud.compute.base import Node, NodeDriver, NodeImage, NodeSize

from provisioning.providers.base import (
    KINDS,
    TAG_PREFIX,
    CloudObject,
    Option,
    ProviderAdapter,
    ProviderError,
    SizeInfo,
)

# Provider error codes that mean "try again later" (AWS names; others report HTTP 5xx/429).
TRANSIENT_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "InsufficientInstanceCapacity",
        "InsufficientAddressCapacity",
        "ServiceUnavailable",
        "Unavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
        # The object is still changing state (a volume being created or detached, instances of
        # a network still terminating): the same call succeeds a little later.
        "IncorrectState",
        "IncorrectInstanceState",
        "VolumeInUse",
        "DependencyViolation",
        "PriorRequestNotComplete",
    }
)
CODE = re.compile(r"^([A-Za-z][\w.]*): ")
# What libcloud's NodeDriver API does for servers on every provider.
SERVER_ACTIONS = frozenset({"create", "delete", "start", "stop", "reboot"})


def error_code(message: str) -> str:
    """The provider's error code that prefixes libcloud's message ("InvalidVolume.NotFound: …")."""
    match = CODE.match(message)
    return match[1] if match else ""


def is_not_found(error: ProviderError) -> bool:
    code = error_code(error.message)
    return code.endswith("NotFound") or code in {"NoSuchHostedZone", "ResourceNotFound"}


def _message(exc: Exception) -> str:
    for attribute in ("message", "value"):
        value = getattr(exc, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(exc) or type(exc).__name__


@contextmanager
def provider_errors(endpoint: str) -> Iterator[None]:
    """Turn whatever libcloud or the network raised into a ProviderError with the provider's
    message; throttling, 5xx, timeouts and connection failures are transient."""
    try:
        yield
    except ProviderError:
        raise
    except InvalidCredsError as exc:
        raise ProviderError(f"The provider refused the credentials: {_message(exc)}") from exc
    except BaseHTTPError as exc:
        message = _message(exc)
        transient = exc.code in (429, 500, 502, 503, 504) or error_code(message) in TRANSIENT_CODES
        raise ProviderError(message, transient=transient) from exc
    except (requests.Timeout, TimeoutError) as exc:
        raise ProviderError(f"{endpoint} did not answer in time: {exc}", transient=True) from exc
    except (requests.ConnectionError, ssl.SSLError, ConnectionError, socket.gaierror) as exc:
        raise ProviderError(f"Cannot reach {endpoint}: {exc}", transient=True) from exc
    except LibcloudError as exc:
        message = _message(exc)
        raise ProviderError(message, transient=error_code(message) in TRANSIENT_CODES) from exc


def endpoint_parts(url: str) -> dict[str, Any]:
    """libcloud's host/port/secure keyword arguments for an endpoint URL."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ProviderError(f"The endpoint URL {url!r} has no host name")
    secure = parts.scheme != "http"
    return {"host": parts.hostname, "port": parts.port or (443 if secure else 80), "secure": secure}


def require_credentials(credentials: dict[str, Any], keys: tuple[str, ...]) -> dict[str, str]:
    missing = [key for key in keys if not credentials.get(key)]
    if missing:
        raise ProviderError(f"The account's credentials lack {', '.join(missing)}")
    return {key: str(credentials[key]) for key in keys}


def size_info(size: NodeSize) -> SizeInfo:
    # Drivers spell the vCPU count differently (EC2 "vcpu", GCE "guestCpus", Azure "numberOfCores").
    extra = size.extra or {}
    vcpus = getattr(size, "vcpus", None) or next(
        (extra[k] for k in ("vcpu", "vcpus", "guestCpus", "numberOfCores", "cpu") if extra.get(k)),
        0,
    )
    try:
        vcpus = int(float(vcpus))
    except (TypeError, ValueError):
        vcpus = 0
    return SizeInfo(id=str(size.id), vcpus=vcpus, ram_gb=round((size.ram or 0) / 1024, 2))


class ById:
    """Stands in for a libcloud object when a driver method reads nothing but its id."""

    def __init__(self, id: str) -> None:
        self.id = id


class LibcloudAdapter(ProviderAdapter):
    """Servers through libcloud's provider-neutral NodeDriver API; subclasses build the driver
    and add the kinds their provider offers."""

    # The credential keys the account must hold.
    credential_keys: tuple[str, ...] = ()

    def __init__(self, account: Any) -> None:
        super().__init__(account)
        self.credentials = require_credentials(account.credentials, self.credential_keys)

    @property
    def endpoint(self) -> str:
        """How error messages name the cloud being called."""
        return self.account.endpoint_url or f"{self.account.provider} {self.account.region}"

    @cached_property
    def compute(self) -> NodeDriver:
        return self.build_compute()

    def build_compute(self) -> NodeDriver:
        raise NotImplementedError

    def calling(self) -> Any:
        return provider_errors(self.endpoint)

    def _canopy_nodes(self) -> list[Node]:
        return [n for n in self.compute.list_nodes() if n.name and n.name.startswith(TAG_PREFIX)]

    def server_object(self, node: Node) -> CloudObject:
        return CloudObject(
            kind="server",
            external_id=str(node.id),
            name=node.name,
            state=str(node.state),
            attributes={
                "public_ips": list(node.public_ips or []),
                "private_ips": list(node.private_ips or []),
                "size": str(node.extra.get("instance_type") or node.extra.get("flavorId") or ""),
            },
        )

    def get_node(self, external_id: str) -> Node:
        for node in self.compute.list_nodes():
            if str(node.id) == external_id:
                return node
        raise ProviderError(f"ResourceNotFound: server {external_id} does not exist")

    def test_connection(self) -> None:
        with self.calling():
            self.compute.list_nodes()

    def list_locations(self) -> list[Option]:
        with self.calling():
            return [Option(str(loc.id), loc.name) for loc in self.compute.list_locations()]

    def list_sizes(self) -> list[SizeInfo]:
        with self.calling():
            return [size_info(size) for size in self.compute.list_sizes()]

    def list_images(self) -> list[Option]:
        with self.calling():
            return [Option(str(image.id), image.name or image.id) for image in self.images()]

    def images(self) -> list[NodeImage]:
        # Public catalogs hold thousands of images: an account may curate them in its options.
        wanted = set(self.account.options.get("images", []))
        images = self.compute.list_images()
        return [i for i in images if i.id in wanted] if wanted else images

    def find(self, kind: str, name: str) -> CloudObject | None:
        self._check(kind, "create")
        with self.calling():
            node = next((n for n in self.compute.list_nodes() if n.name == name), None)
        return self.server_object(node) if node else None

    def create(self, kind: str, name: str, properties: dict[str, Any]) -> CloudObject:
        self._check(kind, "create")
        with self.calling():
            arguments = self.node_arguments(name, properties)  # bad input fails before any call
            return self.server_object(self.compute.create_node(name=name, **arguments))

    def node_arguments(self, name: str, properties: dict[str, Any]) -> dict[str, Any]:
        """create_node's arguments besides the name: size, image, location, user data, key…"""
        raise NotImplementedError

    def delete(self, kind: str, external_id: str) -> None:
        self._check(kind, "delete")
        try:
            with self.calling():
                self._destroy(kind, external_id)
        except ProviderError as error:
            if not is_not_found(error):
                raise

    def _destroy(self, kind: str, external_id: str) -> None:
        """Delete one object (inside `calling`); `delete` forgives it being gone already."""
        node = self.get_node(external_id)
        self.compute.destroy_node(node)
        self.after_destroy(node)

    def act(self, kind: str, external_id: str, action: str, params: dict[str, Any]) -> CloudObject:
        self._check(kind, action)
        with self.calling():
            self._power(self.get_node(external_id), action)
            return self.server_object(self.get_node(external_id))

    def _power(self, node: Node, action: str) -> None:
        """start, stop or reboot the server; any other action is left to the caller."""
        if action == "start":
            self.compute.start_node(node)
        elif action == "stop":
            self.compute.stop_node(node)
        elif action == "reboot":
            self.compute.reboot_node(node)

    def list_tagged(self, kinds: Collection[str] = KINDS) -> list[CloudObject]:
        if "server" not in kinds:
            return []
        with self.calling():
            return [self.server_object(node) for node in self._canopy_nodes()]

    def list_servers(self) -> list[CloudObject]:
        with self.calling():
            nodes = self.compute.list_nodes()
        servers = []
        for node in nodes:
            obj = self.server_object(node)
            created = getattr(node, "created_at", None)
            obj.attributes.update(
                tags=dict(node.extra.get("tags") or {}),
                launched_at=created.isoformat() if created else "",
            )
            servers.append(obj)
        return servers

    def after_destroy(self, node: Node) -> None:
        """Clean up what belonged to the destroyed server alone (see `key_pair`)."""

    def key_pair(self, name: str, public_key: str) -> str:
        """The server's own key pair (named like it) holding the requester's public key."""
        if not self._key_pairs(name):
            self.compute.import_key_pair_from_string(name, public_key)
        return name

    def drop_key_pair(self, name: str) -> None:
        for key_pair in self._key_pairs(name):
            self.compute.delete_key_pair(key_pair)

    def _key_pairs(self, name: str) -> list[Any]:
        # Listing, not get_key_pair: EC2's get sends a parameter EC2 look-alikes ignore.
        return [k for k in self.compute.list_key_pairs() if k.name == name]

    def _check(self, kind: str, action: str) -> None:
        if not self.supports(kind, action):
            raise ProviderError(f"{self.account.provider} cannot {action} a {kind} here")
