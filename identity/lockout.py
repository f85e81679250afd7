"""What a locked-out account is told (django-axes refused its sign-in): when it may try again.

The HTML login and the admin get a page (via axes' middleware); the API token endpoint gets the
same facts as JSON from `portal.api.exceptions`."""

import math
from datetime import datetime

from axes.helpers import get_client_ip_address, get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def lockout_until(*, username: str, ip_address: str | None) -> datetime:
    """When the lock lifts: a cool-off after the last failed sign-in of the account or from the
    address (whichever was locked)."""
    attempts = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=ip_address))
    last = attempts.aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + get_cool_off()


def lockout_facts(request: HttpRequest, credentials: dict | None) -> dict:
    """The lock's end, seconds until then (for Retry-After) and a sentence for people."""
    until = lockout_until(
        username=get_client_username(request, credentials) or "",
        ip_address=get_client_ip_address(request),
    )
    seconds = max(1, math.ceil((until - timezone.now()).total_seconds()))
    minutes = math.ceil(seconds / 60)
    message = (
        "Too many failed sign-ins: signing in is locked until "
        f"{until:%H:%M} UTC (in {minutes} minute{'s' if minutes != 1 else ''}). "
        "Try again then, or ask an administrator to unlock it."
    )
    return {"until": until, "retry_after": seconds, "message": message}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """axes' AXES_LOCKOUT_CALLABLE for the HTML login and the admin's."""
    facts = lockout_facts(request, credentials)
    response = render(request, "registration/locked_out.html", facts, status=429)
    response["Retry-After"] = str(facts["retry_after"])
    return response
