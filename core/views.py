"""The in-app notification list (the nav bar shows the unread count) and the audit trail."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.filtersets import AuditEventFilterSet
from core.pagination import paginate
from core.selectors import audit_event_list, notification_list
from core.services import notifications_mark_read


@login_required
def notification_list_view(request: HttpRequest) -> HttpResponse:
    notifications = notification_list(user=request.user)[:100]
    return render(request, "core/notifications.html", {"notifications": notifications})


@login_required
@require_POST
def notifications_read_view(request: HttpRequest) -> HttpResponse:
    notifications_mark_read(user=request.user)
    return redirect("notifications")


@login_required
def audit_list_view(request: HttpRequest) -> HttpResponse:
    """The audit trail the caller may read, newest first, one page at a time, filtered as the
    API filters (`/api/v1/audit/`)."""
    filters = AuditEventFilterSet(
        request.GET, queryset=audit_event_list(user=request.user), request=request
    )
    page = paginate(request, filters.qs)
    return render(
        request,
        "core/audit.html",
        {"page": page, "events": page.object_list, "filters": filters},
        status=200 if filters.is_valid() else 400,
    )
