"""The API's token authentication: expiring, revocable, optionally read-only, attributable."""

from contextlib import suppress

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from core.models import AuditEvent
from core.services import acting_credential
from identity.models import ApiToken, ServiceAccount
from identity.selectors import api_token_for_key
from identity.services import api_token_digest, api_token_touch


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>` (or `Bearer <key>`). One indexed query per request; the
    token's use is written at most once a minute, and every audit event the request writes
    names the token (and its service account)."""

    keywords = (b"token", b"bearer")

    def authenticate(self, request: Request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in self.keywords:
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: give one token after 'Token '."
            )
        try:
            key = words[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(
                "The token has characters no token has."
            ) from error
        token = api_token_for_key(digest=api_token_digest(key))
        if token is None:
            raise exceptions.AuthenticationFailed("Unknown API token.")
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                f"This API token ('{token.name}') was revoked on {token.revoked_at:%Y-%m-%d}."
            )
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(
                f"This API token ('{token.name}') expired on {token.expires_at:%Y-%m-%d %H:%M} "
                "UTC: create a new one (API tokens in the portal, or POST /api/v1/auth/token/)."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("This account is disabled.")
        if token.read_only and request.method not in SAFE_METHODS:
            raise exceptions.PermissionDenied(
                f"This API token ('{token.name}') is read-only: it may only read."
            )
        api_token_touch(token=token)
        acting_credential.set(credential_label(token))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return "Token"


def credential_label(token: ApiToken) -> str:
    """How the audit trail names a token: its id and name, and its service account if any."""
    label = f"API token #{token.pk} '{token.name}'"
    with suppress(ServiceAccount.DoesNotExist):
        label += f" of service account {token.user.service_account.name}"
    return label[: AuditEvent._meta.get_field("credential").max_length]
