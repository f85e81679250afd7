"""OpenID Connect single sign-on with mozilla-django-oidc: the authorization code flow with
PKCE, the provider's endpoints read from its discovery document, strict ID token checks
(signature, issuer, audience, expiry, nonce), people created or updated from their claims and
their group claim mapped to roles at every sign-in, and logout at the provider too."""

import functools
import logging
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from identity.models import DirectorySource
from identity.services import directory_sign_in

logger = logging.getLogger(__name__)

# mozilla-django-oidc's endpoint settings, answered from the provider's discovery document.
_DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def oidc_enabled() -> bool:
    return bool(settings.CANOPY_OIDC_ISSUER)


def provider_metadata() -> dict:
    """The configured issuer's discovery document (fetched once per process)."""
    return _discovery(settings.CANOPY_OIDC_ISSUER.rstrip("/"))


@functools.lru_cache(maxsize=4)
def _discovery(issuer: str) -> dict:
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration",
        timeout=settings.OIDC_TIMEOUT,
        verify=settings.OIDC_VERIFY_SSL,
    )
    response.raise_for_status()
    metadata = response.json()
    if metadata.get("issuer", "").rstrip("/") != issuer:
        raise SuspiciousOperation(
            f"The discovery document names issuer {metadata.get('issuer')!r}, not {issuer!r}."
        )
    return metadata


def oidc_setting(attr: str, *default):
    if attr in _DISCOVERED:
        return provider_metadata()[_DISCOVERED[attr]]
    return import_from_settings(attr, *default)


class DirectoryOidcBackend(OIDCAuthenticationBackend):
    """Signs in whoever the provider vouches for. People are matched by their subject (`sub`),
    named by CANOPY_OIDC_USERNAME_CLAIM, and hold the roles their CANOPY_OIDC_GROUPS_CLAIM
    maps to. Does nothing while CANOPY_OIDC_ISSUER is unset."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs) -> None:
        # Django builds a backend for every request of a signed-in session: read the provider's
        # endpoints only when a sign-in callback arrives.
        self.UserModel = get_user_model()

    def authenticate(self, request: HttpRequest | None, **kwargs) -> AbstractUser | None:
        if not oidc_enabled() or request is None or "code" not in request.GET:
            return None
        try:
            self.configure()
            return super().authenticate(request, **kwargs)
        except (SuspiciousOperation, requests.RequestException) as error:
            logger.warning("OpenID Connect sign-in refused: %s", error)
            return None

    def configure(self) -> None:
        """Read the provider's endpoints and the client's settings (mozilla-django-oidc's
        own set-up), before a callback's code is exchanged and its ID token verified."""
        super().__init__()

    def get_user(self, user_id: int) -> AbstractUser | None:
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None  # sessions end too

    def _verify_jws(self, payload: str, key) -> dict:
        """The signature with the provider's key, and the claims an ID token must carry."""
        algorithm = jwt.get_unverified_header(payload).get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(
                f"ID token signed with {algorithm}, not {self.OIDC_RP_SIGN_ALGO}"
            )
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[algorithm],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=provider_metadata()["issuer"],
                leeway=settings.CANOPY_OIDC_CLOCK_SKEW,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as error:
            raise SuspiciousOperation(f"ID token refused: {error}") from error

    def get_userinfo(self, access_token: str, id_token: str, payload: dict) -> dict:
        # Some providers (Entra ID) put the groups in the ID token only: use both.
        return {**payload, **super().get_userinfo(access_token, id_token, payload)}

    def verify_claims(self, claims: dict) -> bool:
        return bool(claims.get("sub"))

    def filter_users_by_claims(self, claims: dict):
        return self.UserModel.objects.filter(
            directory_identity__source=DirectorySource.OIDC,
            directory_identity__subject=claims["sub"],
        )

    def create_user(self, claims: dict) -> AbstractUser:
        username = str(claims.get(settings.CANOPY_OIDC_USERNAME_CLAIM) or claims["sub"])[:150]
        user = self.UserModel.objects.filter(username__iexact=username).first()
        if user is None:
            user = self.UserModel(username=username)
            user.set_unusable_password()
        elif (
            user.is_superuser
            or hasattr(user, "service_account")
            or hasattr(user, "directory_identity")
        ):
            raise SuspiciousOperation(f"The user name {username} belongs to another account.")
        return self.update_user(user, claims)

    def update_user(self, user: AbstractUser, claims: dict) -> AbstractUser:
        user.email = claims.get("email", user.email)
        user.first_name = claims.get("given_name", user.first_name)[:150]
        user.last_name = claims.get("family_name", user.last_name)[:150]
        user.save()
        groups = claims.get(settings.CANOPY_OIDC_GROUPS_CLAIM) or []
        return directory_sign_in(
            user=user,
            source=DirectorySource.OIDC,
            subject=claims["sub"],
            groups=[groups] if isinstance(groups, str) else [str(group) for group in groups],
        )


class OidcSignInView(OIDCAuthenticationRequestView):
    """Sends the browser to the provider (state, nonce and a PKCE S256 challenge)."""

    get_settings = staticmethod(oidc_setting)

    def __init__(self, *args, **kwargs) -> None:
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID  # the endpoint is read in get()

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except (requests.RequestException, SuspiciousOperation, KeyError) as error:
            logger.warning("OpenID Connect provider unavailable: %s", error)
            messages.error(
                request, f"{settings.CANOPY_OIDC_NAME} does not answer; try again later."
            )
            return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))
        return super().get(request)


class OidcCallbackView(OIDCAuthenticationCallbackView):
    """Back from the provider: signed in, or back on the login page with the reason."""

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request,
            f"Sign-in with {settings.CANOPY_OIDC_NAME} failed: the provider refused it, or its "
            "answer could not be verified, or the account is disabled.",
        )
        return HttpResponseRedirect(resolve_url(settings.LOGIN_URL))


class OidcSessionRefresh(SessionRefresh):
    """Every CANOPY_OIDC_RECHECK_MINUTES a page view of a person signed in through the provider
    goes by the provider silently (prompt=none): their claims and groups are read again (roles
    follow), and someone the provider no longer signs in (disabled, session ended) is logged
    out. Sessions from passwords or LDAP, API calls and htmx polls are left alone."""

    def __init__(self, get_response) -> None:
        # MiddlewareMixin's set-up only: SessionRefresh's reads the endpoints at start-up, and
        # here they come from the provider's discovery document when a refresh is due.
        super(SessionRefresh, self).__init__(get_response)
        self.OIDC_EXEMPT_URLS = ["login", "logout"]
        self.OIDC_RP_SCOPES = settings.OIDC_RP_SCOPES

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        return (
            oidc_enabled()
            and not request.path.startswith("/api/")
            and not getattr(request, "htmx", False)
            and super().is_refreshable_url(request)
        )

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not self.is_refreshable_url(request):
            return None
        try:
            self.OIDC_OP_AUTHORIZATION_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except (requests.RequestException, SuspiciousOperation, KeyError) as error:
            logger.warning("OpenID Connect provider unavailable, session kept: %s", error)
            return None
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_STATE_SIZE = 32
        self.OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
        self.OIDC_USE_NONCE = True
        self.OIDC_NONCE_SIZE = 32
        return super().process_request(request)


def provider_logout_url(request: HttpRequest) -> str:
    """Where logout sends the browser: the provider's end-session endpoint when the person
    signed in through it (ending their session there too), else the login page."""
    after = request.build_absolute_uri(resolve_url(settings.LOGOUT_REDIRECT_URL))
    id_token = request.session.get("oidc_id_token")
    if not (oidc_enabled() and id_token):
        return after
    try:
        end_session = provider_metadata().get("end_session_endpoint")
    except (requests.RequestException, SuspiciousOperation):
        end_session = None
    if not end_session:
        return after
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": after,
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    return f"{end_session}?{query}"
