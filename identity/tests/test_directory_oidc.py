"""Single sign-on through a real OpenID Connect provider (django-oauth-toolkit in OIDC mode, run
by the suite as its own process): a person who exists only at the provider signs in from the
login page in a real browser, becomes web-shop's manager through the groups claim, approves,
logs out of both, and loses the role when the provider drops the group. ID tokens that are
tampered with, expired, or meant for someone else are refused."""

import base64
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import SuspiciousOperation
from playwright.sync_api import Browser, expect, sync_playwright

from core.models import ProjectMembership, ProjectRole
from identity.models import DirectoryRoleMapping
from identity.oidc import DirectoryOidcBackend
from tests.fixtures import order_via_api, wait_until
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.django_db(transaction=True)

# Playwright's sync API runs an event loop in this thread (see tests/test_browser.py).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def start_provider(tmp_path: Path, settings) -> Iterator[Callable[[str], Provider]]:
    """Starts the provider for a portal at `portal_url` and points Canopy's settings at it."""
    processes: list[subprocess.Popen] = []

    def start(portal_url: str) -> Provider:
        port = _free_port()
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
        _wait_for_discovery(provider, processes[-1], tmp_path / "provider.log")
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


def _wait_for_discovery(provider: Provider, process: subprocess.Popen, log: Path) -> None:
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


@pytest.fixture
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make test`, which installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _sign_in_at_provider(page, password: str = "olivia-pass-1") -> None:
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.fill("#idp-username", "olivia")
    page.fill("#idp-password", password)
    page.click("button:has-text('Sign in to the provider')")


@pytest.mark.browser
def test_sign_in_approve_and_sign_out_through_the_provider(
    demo, live_server, start_provider, chromium, api_as
):
    provider = start_provider(live_server.url)
    DirectoryRoleMapping.objects.create(
        group="web-shop-managers", project=demo["web_shop"], role=ProjectRole.MANAGER
    )
    page = chromium.new_context(base_url=live_server.url).new_page()
    _sign_in_at_provider(page)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator(".user")).to_contain_text("olivia")
    membership = ProjectMembership.objects.get(user__username="olivia")
    assert (membership.project, membership.role) == (demo["web_shop"], ProjectRole.MANAGER)
    assert membership.user.email == "olivia@example.com"

    # alice orders; olivia approves it as web-shop's manager.
    order = order_via_api(api_as(demo["alice"]), demo)
    assert order.status_code == 201, order.content
    page.goto("/approvals/")
    page.click("td a")
    page.fill("#id_comment", "approved from the directory")
    page.click("button:has-text('Approve')")
    bob = api_as(demo["bob"])  # web-shop's other manager: an approver of the same stage
    wait_until(
        lambda: (
            [
                approval["order"]["id"]
                for approval in bob.get("/api/v1/approvals/?status=approved").json()["results"]
            ]
            == [order.data["id"]]
        ),
        timeout=15,
        what="olivia's approval",
    )

    # The provider drops her from the group. When her session is due for its re-check
    # (CANOPY_OIDC_RECHECK_MINUTES; made due here), the next page goes by the provider
    # silently and she is manager no more, without signing in again.
    provider.remove_from_group("olivia", "web-shop-managers")
    _make_session_due_for_recheck(page)
    page.goto("/dashboard/")
    expect(page).to_have_url(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert not ProjectMembership.objects.filter(user__username="olivia").exists()
    expect(page.get_by_test_id("pending-approvals")).to_have_text("0")

    # Logging out ends the provider's session too: the next sign-in asks for the password.
    page.click("button:has-text('Log out')")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.locator("#idp-password")).to_be_visible()


def _make_session_due_for_recheck(page) -> None:
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    session = SessionStore(session_key=cookie["value"])
    session["oidc_id_token_expiration"] = 0
    session.save()


@pytest.fixture
def provider(start_provider) -> Provider:
    return start_provider("http://127.0.0.1:9")  # no browser: only its keys and metadata


def _sign(provider: Provider, key: bytes | None = None, **overrides) -> str:
    now = int(time.time())
    claims = {
        "iss": provider.issuer,
        "aud": provider.client_id,
        "sub": "42",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "groups": ["web-shop-developers"],
        **overrides,
    }
    kid = requests.get(f"{provider.issuer}/.well-known/jwks.json", timeout=5).json()["keys"][0]
    return jwt.encode(
        claims, key or provider.signing_key, algorithm="RS256", headers={"kid": kid["kid"]}
    )


def test_tampered_expired_or_foreign_id_tokens_are_refused(provider):
    backend = DirectoryOidcBackend()
    backend.configure()  # the provider's JWKS endpoint, issuer and our client id
    assert backend.verify_token(_sign(provider), nonce="n-1")["sub"] == "42"

    header, payload, signature = _sign(provider).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["groups"] = ["canopy-admins"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    now = int(time.time())
    refused = {
        "tampered": f"{header}.{forged}.{signature}",
        "expired": _sign(provider, iat=now - 900, exp=now - 600),
        "for another client": _sign(provider, aud="someone-else"),
        "from another issuer": _sign(provider, iss="http://127.0.0.1:9/o"),
        "signed by another key": _sign(provider, key=other_key),
        "replayed (wrong nonce)": _sign(provider, nonce="n-0"),
    }
    for what, token in refused.items():
        with pytest.raises(SuspiciousOperation):
            backend.verify_token(token, nonce="n-1")
            pytest.fail(f"a token {what} was accepted")


@pytest.mark.django_db
def test_the_button_shows_only_when_configured_and_a_refusal_says_so(settings, client):
    assert "Sign in with" not in client.get("/accounts/login/").content.decode()
    settings.CANOPY_OIDC_ISSUER = "http://127.0.0.1:9/o"
    settings.CANOPY_OIDC_NAME = "Acme SSO"
    assert "Sign in with Acme SSO" in client.get("/accounts/login/").content.decode()
    # The provider sends the browser back with an error (the person cancelled, or is disabled).
    answer = client.get("/oidc/callback/?error=access_denied&state=s", follow=True)
    assert answer.redirect_chain[-1][0] == "/accounts/login/"
    assert "Sign-in with Acme SSO failed" in answer.content.decode()
    # A provider that does not answer: back to the login page with the reason, no error page.
    answer = client.get("/oidc/authenticate/", follow=True)
    assert "Acme SSO does not answer" in answer.content.decode()


@pytest.mark.django_db
def test_a_provider_identity_never_takes_over_a_local_admin_or_a_pipeline(demo, settings):
    backend = DirectoryOidcBackend()
    with pytest.raises(SuspiciousOperation):
        backend.create_user({"sub": "x-1", "preferred_username": "admin"})
    created = backend.create_user({"sub": "x-2", "preferred_username": "newcomer"})
    assert created.directory_identity.subject == "x-2" and not created.has_usable_password()
    with pytest.raises(SuspiciousOperation):  # the same name from another subject
        backend.create_user({"sub": "x-3", "preferred_username": "newcomer"})
