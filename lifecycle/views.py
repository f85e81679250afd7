"""Browser pages for lifecycle: the leases/reclaim overview and the buttons of the resource
page's lease panel (extend, unretire, keep), and managers' decisions on extension requests.
Thin: reads through `lifecycle.selectors`, writes through `lifecycle.services`."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from catalog.models import Order
from lifecycle import selectors, services
from lifecycle.forms import IdlePolicyForm
from portal.forms import form_add_service_errors
from provisioning.selectors import resource_list


def _back(request: HttpRequest) -> HttpResponse:
    """To the page the form was on (a resource or order page), else the overview."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("lifecycle:index")


def _run(
    request: HttpRequest, action: Callable[[], Any], success: str | Callable[[Any], str]
) -> None:
    """Call the service; tell the user what happened (or why it was refused)."""
    try:
        result = action()
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text)
        return
    messages.success(request, success(result) if callable(success) else success)


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    cases = selectors.reclaim_case_list(user=user)
    return render(
        request,
        "lifecycle/index.html",
        {
            "summary": selectors.dashboard_summary(user=user),
            "leases": selectors.lease_list(user=user).exclude(state="deleted")[:200],
            "extensions": selectors.lease_extension_orders(user=user)[:50],
            "cases": cases.filter(closed_at__isnull=True),
            "closed_cases": cases.filter(closed_at__isnull=False)[:20],
            "keeps": selectors.resource_keep_list(user=user),
            "policies": selectors.idle_policy_list(user=user),
        },
    )


@login_required
def idle_policy_edit(request: HttpRequest, policy_id: int) -> HttpResponse:
    """Organization admins change an idle policy of their organization or its projects."""
    policy = get_object_or_404(selectors.idle_policy_list(user=request.user), pk=policy_id)
    form = IdlePolicyForm(request.POST or None, instance=policy)
    if request.method == "POST" and form.is_valid():
        try:
            services.idle_policy_save(user=request.user, policy=policy, fields=form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Idle policy {policy.name} saved.")
            return redirect("lifecycle:index")
    return render(
        request,
        "portal/settings_form.html",
        {
            "form": form,
            "title": f"Idle policy {policy.name}",
            "intro": "A top-level server is idle when its average CPU and network stay below "
            "both thresholds over the window; its owner is then notified, and the server "
            "stopped, retired and deleted after each wait, unless it is busy again or kept.",
            "back": reverse("lifecycle:index"),
        },
    )


@login_required
@require_POST
def lease_extend_view(request: HttpRequest, lease_id: int) -> HttpResponse:
    lease = get_object_or_404(selectors.lease_list(user=request.user), pk=lease_id)
    try:
        days = int(request.POST.get("days", ""))
    except ValueError:
        messages.error(request, "Give a whole number of days.")
        return _back(request)
    _run(
        request,
        lambda: services.lease_extend(
            user=request.user, lease_id=lease.pk, days=days, reason=request.POST.get("reason", "")
        ),
        lambda result: (
            f"Order #{result.pk} submitted: beyond the maximum, the approvers decide."
            if isinstance(result, Order)
            else f"Lease extended to {result.expires_at:%Y-%m-%d %H:%M}."
        ),
    )
    return _back(request)


@login_required
@require_POST
def lease_unretire_view(request: HttpRequest, lease_id: int) -> HttpResponse:
    lease = get_object_or_404(selectors.lease_list(user=request.user), pk=lease_id)
    _run(
        request,
        lambda: services.lease_unretire(user=request.user, lease_id=lease.pk),
        "Unretired: the servers are starting again.",
    )
    return _back(request)


@login_required
@require_POST
def resource_keep_view(request: HttpRequest, resource_id: int) -> HttpResponse:
    """Mark the resource keep (with a reason), or remove the mark (`remove`)."""
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    if request.POST.get("remove"):
        _run(
            request,
            lambda: services.resource_keep_remove(user=request.user, resource_id=resource.pk),
            "Keep removed: idle reclaim applies again.",
        )
    else:
        _run(
            request,
            lambda: services.resource_keep_set(
                user=request.user, resource_id=resource.pk, reason=request.POST.get("reason", "")
            ),
            "Marked keep: idle reclaim leaves it alone.",
        )
    return _back(request)
