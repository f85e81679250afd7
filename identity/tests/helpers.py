"""What identity's tests share across layers: Acme's web-shop and the item its people order, the
test directory (slapd) and OIDC provider set up for Canopy, a sign-in through each door, people to
lock out, and the role mappings' organization."""

import os
import secrets
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import ldap
import pytest
import requests
from axes.models import AccessAttempt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import F
from django.http import HttpResponse
from django.test import Client
from django_auth_ldap.config import LDAPSearch, NestedGroupOfNamesType
from rest_framework.response import Response
from rest_framework.test import APIClient

from core.tests.factories import OrganizationFactory, ProjectFactory, UserFactory
from tests.fault_stack import free_port
from tests.fixtures import orderable_linux_vm
from tests.ldap_server import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    GROUPS,
    PEOPLE,
    PEOPLE_ENTRIES,
    Directory,
    group_dn,
)


def token_client(key: str) -> APIClient:
    """An API client that authenticates with the token `key`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


# --- Acme's web-shop, and the item its people order --------------------------------------------

PASSWORD = "canopy"


@pytest.fixture(name="shop")
def shop_fixture(built) -> dict:
    """Acme's people and projects, by name (see `identity_world`)."""
    return built(identity_world)


def identity_world() -> dict:
    """Acme's web-shop (alice a member, bob its manager) and data-lab (dave a member), carol,
    and an administrator; everyone signs in with PASSWORD."""
    acme = OrganizationFactory(name="Acme", slug="acme")
    people = {
        name: UserFactory(username=name, password=PASSWORD)
        for name in ["alice", "bob", "carol", "dave"]
    }
    return {
        **people,
        "admin": UserFactory(username="admin", password=PASSWORD, is_staff=True, is_superuser=True),
        "web_shop": ProjectFactory(
            organization=acme,
            name="web-shop",
            slug="web-shop",
            members=[people["alice"]],
            managers=[people["bob"]],
        ),
        "data_lab": ProjectFactory(
            organization=acme, name="data-lab", slug="data-lab", members=[people["dave"]]
        ),
    }


@pytest.fixture(name="linux_vm")
def linux_vm_fixture(shop: dict) -> None:
    """web-shop may order the linux-vm (identity's journeys end in an order, placed through
    `tests.fixtures.order_via_api`; what it orders comes from the same shared plugin, since
    catalog and the apps it needs sit above identity)."""
    orderable_linux_vm(shop["web_shop"])


# --- the directory (slapd) -------------------------------------------------------------------


def directory_password(uid: str) -> str:
    return PEOPLE_ENTRIES[uid]["password"]


@pytest.fixture(name="ldap_settings")
def ldap_settings_fixture(settings, directory: Directory, shop, tmp_path: Path) -> Directory:
    """Canopy pointed at the test directory, with the README's kind of role mapping loaded."""
    settings.AUTH_LDAP_SERVER_URI = directory.uri
    settings.AUTH_LDAP_BIND_DN = ADMIN_DN
    settings.AUTH_LDAP_BIND_PASSWORD = ADMIN_PASSWORD
    settings.AUTH_LDAP_USER_SEARCH = LDAPSearch(
        PEOPLE, ldap.SCOPE_SUBTREE, "(&(uid=%(user)s)(!(employeeType=disabled)))"
    )
    settings.AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
        GROUPS, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
    )
    settings.AUTH_LDAP_GROUP_TYPE = NestedGroupOfNamesType()
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "roles:\n"
        f"  - {{group: '{group_dn('web-shop-managers')}', project: acme/web-shop, role: manager}}\n"
        "  - {group: web-shop-developers, project: acme/web-shop, role: member}\n"
        "  - {group: finance, organization: acme, role: finance}\n"
    )
    call_command("directory_roles_load", str(roles), stdout=open("/dev/null", "w"))  # noqa: SIM115
    return directory


def html_login(uid: str, password: str) -> tuple[Client, HttpResponse]:
    browser = Client()
    answer = browser.post("/accounts/login/", {"username": uid, "password": password})
    return browser, answer


def token_exchange(uid: str, password: str) -> Response:
    return APIClient().post("/api/v1/auth/token/", {"username": uid, "password": password})


def project_names(client: Client | APIClient) -> list[str]:
    return [p["name"] for p in client.get("/api/v1/projects/").json()["results"]]


# --- the OpenID Connect provider -------------------------------------------------------------


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    signing_key: bytes  # PEM: the tests sign their own tokens with it
    database: Path

    def remove_from_group(self, username: str, group: str) -> None:
        """What a directory admin does at the provider (its own database, not Canopy's)."""
        with sqlite3.connect(self.database) as db:
            db.execute(
                "DELETE FROM auth_user_groups WHERE user_id = (SELECT id FROM auth_user WHERE"
                " username = ?) AND group_id = (SELECT id FROM auth_group WHERE name = ?)",
                (username, group),
            )


@pytest.fixture(name="start_provider")
def start_provider_fixture(tmp_path: Path, settings) -> Iterator[Callable[[str], Provider]]:
    """Starts the provider for a portal at `portal_url` and points Canopy's settings at it."""
    processes: list[subprocess.Popen] = []

    def start(portal_url: str) -> Provider:
        port = free_port()
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (tmp_path / "signing-key.pem").write_bytes(pem)
        provider = Provider(
            issuer=f"http://127.0.0.1:{port}/o",
            client_id="canopy",
            client_secret=secrets.token_urlsafe(24),
            signing_key=pem,
            database=tmp_path / "provider.sqlite3",
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
            "OIDC_PROVIDER_DIR": str(tmp_path),
            "OIDC_PROVIDER_ISSUER": provider.issuer,
        }
        log = open(tmp_path / "provider.log", "w")  # noqa: SIM115  (closed with the process)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.oidc_provider.server",
                    str(port),
                    provider.client_id,
                    provider.client_secret,
                    f"{portal_url}/oidc/callback/",
                    f"{portal_url}/accounts/login/",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for_discovery(provider, processes[-1], tmp_path / "provider.log")
        settings.CANOPY_OIDC_ISSUER = provider.issuer
        settings.CANOPY_OIDC_NAME = "Test IdP"
        settings.OIDC_RP_CLIENT_ID = provider.client_id
        settings.OIDC_RP_CLIENT_SECRET = provider.client_secret
        return provider

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
    print((tmp_path / "provider.log").read_text()[-3000:])  # shown when a test failed


def wait_for_discovery(provider: Provider, process: subprocess.Popen, log: Path) -> None:
    url = f"{provider.issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the OIDC provider did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


# --- role mappings and sign-in hardening -----------------------------------------------------


@pytest.fixture(name="acme")
def acme_fixture(db) -> dict:
    """Acme's web-shop and data-lab, dave a member of data-lab made by hand, alice, an admin."""
    organization = OrganizationFactory(name="Acme", slug="acme")
    dave = UserFactory(username="dave")
    return {
        "web_shop": ProjectFactory(organization=organization, slug="web-shop"),
        "data_lab": ProjectFactory(organization=organization, slug="data-lab", members=[dave]),
        "dave": dave,
        "alice": UserFactory(username="alice"),
        "admin": UserFactory(username="admin", is_staff=True, is_superuser=True),
    }


GUESSES = 50
COOL_OFF_SECONDS = settings.AXES_COOLOFF_TIME.total_seconds()


@pytest.fixture(name="people")
def people_fixture(db) -> dict[str, User]:
    """alice and bob, who sign in with "canopy", and an administrator with the same password."""
    return {
        "alice": UserFactory(username="alice", password="canopy"),
        "bob": UserFactory(username="bob", password="canopy"),
        "admin": UserFactory(username="admin", password="canopy", is_staff=True, is_superuser=True),
    }


def let_the_cool_off_pass() -> None:
    """As if the cool-off had passed since every failed attempt."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )


def assert_locked(answer: HttpResponse) -> None:
    assert answer.status_code == 429
    assert 0 < int(answer["Retry-After"]) <= COOL_OFF_SECONDS
