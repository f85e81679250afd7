"""The dashboard (live through htmx), the resource page's metric charts, and the operations
endpoints: /metrics (Prometheus text format) and /health/ (JSON)."""

import hmac

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from portal.dashboard import (
    CHART_RANGE_CHOICES,
    CHART_RANGES,
    dashboard_summary,
    resource_charts,
)
from portal.monitoring import health_report, metrics_registry
from provisioning.selectors import METRIC_KINDS, METRIC_STATES, resource_list, resource_metrics


@require_safe
def favicon_view(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages that do not link the icon (admin, API docs)."""
    return redirect(static("favicon.svg"), permanent=True)


def _dashboard_context(request: HttpRequest) -> dict:
    return {"summary": dashboard_summary(user=request.user)}


@login_required
def dashboard_view(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/dashboard.html", _dashboard_context(request))


@login_required
def dashboard_live(request: HttpRequest) -> HttpResponse:
    """The dashboard's panels alone: the page polls this every few seconds."""
    return render(request, "portal/_dashboard_live.html", _dashboard_context(request))


@login_required
def resource_metrics_view(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The CPU and network charts of a resource over the last hour or day (a partial)."""
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    chosen = request.GET.get("range") or "1h"
    if chosen not in CHART_RANGES:
        return HttpResponseBadRequest(f"Unknown range {chosen!r}. {CHART_RANGE_CHOICES}")
    length, step = CHART_RANGES[chosen]
    until = timezone.now()
    since = until - length
    points = resource_metrics(resource=resource, since=since, until=until, step=step)
    if resource.kind not in METRIC_KINDS:
        empty = f"A {resource.kind} reports no metrics."
    elif resource.state not in METRIC_STATES:
        empty = f"No metrics while {resource.state}."
    else:
        empty = "No metrics from this provider."
    return render(
        request,
        "portal/_resource_metrics.html",
        {
            "resource": resource,
            "range": chosen,
            "ranges": list(CHART_RANGES),
            "since": since,
            "until": until,
            "charts": resource_charts(points=points, since=since, until=until) if points else [],
            "empty": empty,
        },
    )


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus scrape target; with CANOPY_METRICS_TOKEN set, `Authorization: Bearer <token>`."""
    token = settings.CANOPY_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            response = HttpResponse("A valid bearer token is required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    # 0.0.4: the classic text format every Prometheus (2.x included) reads; names are ASCII.
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)


@require_safe
@never_cache
def health_view(request: HttpRequest) -> JsonResponse:
    """Unauthenticated and cheap: for load balancers and container healthchecks."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
