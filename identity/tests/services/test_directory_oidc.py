"""The OpenID Connect backend against a real provider (django-oauth-toolkit in OIDC mode, run by
the suite as its own process): ID tokens that are tampered with, expired, or meant for someone
else are refused, and a provider's identity never takes over a local account."""

import base64
import json
import time

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import SuspiciousOperation

from identity.oidc import DirectoryOidcBackend
from identity.tests.helpers import (
    Provider,
    people_fixture,  # noqa: F401  (fixture: alice, bob and an admin who sign in)
    start_provider_fixture,  # noqa: F401  (fixture: the provider)
)

pytestmark = pytest.mark.django_db(transaction=True)


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
def test_a_provider_identity_never_takes_over_a_local_admin_or_a_pipeline(people, settings):
    backend = DirectoryOidcBackend()
    with pytest.raises(SuspiciousOperation):
        backend.create_user({"sub": "x-1", "preferred_username": "admin"})
    created = backend.create_user({"sub": "x-2", "preferred_username": "newcomer"})
    assert created.directory_identity.subject == "x-2" and not created.has_usable_password()
    with pytest.raises(SuspiciousOperation):  # the same name from another subject
        backend.create_user({"sub": "x-3", "preferred_username": "newcomer"})
