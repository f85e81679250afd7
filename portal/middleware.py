"""Request-scoped state that the ground layer reads."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from portal.services import acting_credential


class AuditCredentialMiddleware:
    """Start every request with no acting credential, so a token's name never outlives the
    request that authenticated with it (threads serve one request after another)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reset = acting_credential.set("")
        try:
            return self.get_response(request)
        finally:
            acting_credential.reset(reset)
