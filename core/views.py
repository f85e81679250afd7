"""The in-app notification list (the nav bar shows the unread count), the audit trail, and the
settings form page every app's settings (quotas, budgets, idle policies) use."""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.filtersets import AuditEventFilterSet
from core.forms import form_add_service_errors
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


def settings_form_page(
    request: HttpRequest,
    form: forms.BaseForm,
    *,
    save: Callable[[], str],
    back: str,
    title: str,
    intro: str,
    **context: str,
) -> HttpResponse:
    """A settings form (`core/settings_form.html`): on a valid POST `save()` calls the service
    and answers the success message, then the page goes `back`; a service's ValidationError
    lands on the form, per field where it names one. `context`: delete_url, delete_confirm."""
    if request.method == "POST" and form.is_valid():
        try:
            done = save()
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, done)
            return redirect(back)
    return render(
        request,
        "core/settings_form.html",
        {"form": form, "title": title, "intro": intro, "back": back, **context},
    )
