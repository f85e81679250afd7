from django.conf import settings
from django.http import HttpRequest


def sign_in(request: HttpRequest) -> dict:
    """The login page's "Sign in with <name>" button, when single sign-on is configured."""
    return {"sso_name": settings.CANOPY_OIDC_NAME if settings.CANOPY_OIDC_ISSUER else ""}
