"""Request-scoped state that the ground layer reads, and the API's answers when Django answers
first (the database down, no URL matched).

The database down answers 503 with Retry-After, not a 500: the API in JSON, pages in plain HTML
(rendering the portal's templates would ask the database again)."""

import sys
from collections.abc import Callable
from typing import Any

from django.core.signals import got_request_exception
from django.http import HttpRequest, HttpResponse, JsonResponse

from core.db import UNAVAILABLE_ERRORS
from core.services import acting_credential


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


RETRY_AFTER_SECONDS = 10
MESSAGE = "The service is briefly unavailable: its database does not answer. Try again shortly."
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Canopy is briefly unavailable</title></head>
<body><h1>Canopy is briefly unavailable</h1><p>{MESSAGE}</p></body></html>
"""


class DatabaseUnavailableMiddleware:
    """Outermost middleware: a request that failed because the database did not answer (noted
    by `_note_database_error`, wherever below the error arose) gets a 503 instead of the 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "_canopy_database_down", False):
            return response
        if request.path.startswith("/api/"):
            unavailable = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            unavailable = HttpResponse(PAGE, status=503)
        unavailable["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return unavailable


def _note_database_error(*, request: HttpRequest | None = None, **kwargs: Any) -> None:
    """Receiver of got_request_exception, which Django sends while it handles the exception."""
    if request is not None and isinstance(sys.exc_info()[1], UNAVAILABLE_ERRORS):
        request._canopy_database_down = True


got_request_exception.connect(_note_database_error, dispatch_uid="canopy-database-down")


class ApiNotFoundAsJsonMiddleware:
    """The API answers in JSON also when no URL matched (an id that is not a number): Django
    answers that 404 before DRF sees the request, with an HTML page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return JsonResponse({"detail": "Not found."}, status=404)
        return response
