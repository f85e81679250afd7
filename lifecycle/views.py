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

from billing.selectors.access import user_currency
from catalog.models import Order
from core.pagination import paginate
from core.views import settings_form_page
from lifecycle.filtersets import LeaseFilterSet
from lifecycle.forms import IdlePolicyCreateForm, IdlePolicyForm
from lifecycle.models import LeaseState
from lifecycle.selectors.adoption import adoptable_servers, adoption_projects
from lifecycle.selectors.dashboard import dashboard_summary
from lifecycle.selectors.leases import lease_extension_orders, lease_list
from lifecycle.selectors.preview import MAX_PREVIEW_DAYS, reclaim_preview_by_project
from lifecycle.selectors.reclaim import (
    idle_policy_list,
    idle_policy_scopes,
    reclaim_case_list,
    resource_keep_list,
)
from lifecycle.services.adoption import unknown_servers_adopt
from lifecycle.services.leases import lease_extend, lease_unretire
from lifecycle.services.reclaim import (
    idle_policy_delete,
    idle_policy_save,
    resource_keep_remove,
    resource_keep_set,
)
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
    cases = reclaim_case_list(user=user)
    leases = lease_list(user=user).order_by("expires_at", "id")
    if not request.GET.get("state"):  # deleted leases are history: shown when asked for
        leases = leases.exclude(state=LeaseState.DELETED)
    filters = LeaseFilterSet(request.GET, queryset=leases, request=request)
    page = paginate(request, filters.qs)
    return render(
        request,
        "lifecycle/index.html",
        {
            "summary": dashboard_summary(user=user),
            "filters": filters,
            "page": page,
            "leases": page.object_list,
            "extensions": lease_extension_orders(user=user)[:50],
            "cases": cases.filter(closed_at__isnull=True),
            "closed_cases": cases.filter(closed_at__isnull=False)[:20],
            "keeps": resource_keep_list(user=user),
            "policies": idle_policy_list(user=user),
            "can_add_policy": idle_policy_scopes(user=user)[0].exists(),
        },
    )


IDLE_POLICY_INTRO = (
    "A top-level server is idle when its average CPU and network stay below both thresholds "
    "over the window; its owner is then notified, and the server stopped, retired and deleted "
    "after each wait, unless it is busy again or kept."
)


@login_required
def idle_policy_new(request: HttpRequest) -> HttpResponse:
    """Organization admins add an idle policy for their organization or one of its projects."""
    organizations, projects = idle_policy_scopes(user=request.user)
    if not organizations.exists():
        raise PermissionDenied("Only organization admins set idle policies.")
    form = IdlePolicyCreateForm(
        request.POST or None, organizations=organizations, projects=projects
    )

    def save() -> str:
        policy = idle_policy_save(
            user=request.user,
            fields={name: form.cleaned_data[name] for name in IdlePolicyForm.Meta.fields},
            **form.scope_kwargs(),
        )
        return f"Idle policy {policy.name} added."

    return settings_form_page(
        request,
        form,
        save=save,
        back=reverse("lifecycle:index"),
        title="New idle policy",
        intro=IDLE_POLICY_INTRO,
    )


@login_required
@require_POST
def idle_policy_delete_view(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = get_object_or_404(idle_policy_list(user=request.user), pk=policy_id)
    _run(
        request,
        lambda: idle_policy_delete(user=request.user, policy=policy),
        f"Idle policy {policy.name} deleted: its servers follow their organization's policy, "
        "if any.",
    )
    return redirect("lifecycle:index")


@login_required
def idle_policy_edit(request: HttpRequest, policy_id: int) -> HttpResponse:
    """Organization admins change an idle policy of their organization or its projects."""
    policy = get_object_or_404(idle_policy_list(user=request.user), pk=policy_id)
    form = IdlePolicyForm(request.POST or None, instance=policy)

    def save() -> str:
        idle_policy_save(user=request.user, policy=policy, fields=form.cleaned_data)
        return f"Idle policy {policy.name} saved."

    return settings_form_page(
        request,
        form,
        save=save,
        back=reverse("lifecycle:index"),
        title=f"Idle policy {policy.name}",
        intro=IDLE_POLICY_INTRO,
        delete_url=reverse("lifecycle:idle_policy_delete", args=[policy.pk]),
        delete_confirm=f"Delete idle policy {policy.name}?",
    )


@login_required
@require_POST
def lease_extend_view(request: HttpRequest, lease_id: int) -> HttpResponse:
    lease = get_object_or_404(lease_list(user=request.user), pk=lease_id)
    try:
        days = int(request.POST.get("days", ""))
    except ValueError:
        messages.error(request, "Give a whole number of days.")
        return _back(request)
    _run(
        request,
        lambda: lease_extend(
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
    lease = get_object_or_404(lease_list(user=request.user), pk=lease_id)
    _run(
        request,
        lambda: lease_unretire(user=request.user, lease_id=lease.pk),
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
            lambda: resource_keep_remove(user=request.user, resource_id=resource.pk),
            "Keep removed: idle reclaim applies again.",
        )
    else:
        _run(
            request,
            lambda: resource_keep_set(
                user=request.user, resource_id=resource.pk, reason=request.POST.get("reason", "")
            ),
            "Marked keep: idle reclaim leaves it alone.",
        )
    return _back(request)


@login_required
def adoption_view(request: HttpRequest) -> HttpResponse:
    """Servers launched outside Canopy, to adopt into a project (organization admins)."""
    projects = adoption_projects(user=request.user)
    if request.method == "POST":
        project = projects.filter(pk=request.POST.get("project") or 0).first()
        if project is None:
            messages.error(request, "Choose the project to adopt the servers into.")
        else:
            ids = [int(i) for i in request.POST.getlist("objects") if i.isdigit()]
            _run(
                request,
                lambda: unknown_servers_adopt(
                    user=request.user,
                    unknown_ids=ids,
                    project=project,
                    observe_only=request.POST.get("observe_only") == "on",
                ),
                lambda adopted: f"Adopted {len(adopted)} server(s) into {project.name}.",
            )
        return redirect("lifecycle:adoption")
    return render(
        request,
        "lifecycle/adoption.html",
        {"servers": adoptable_servers(user=request.user), "projects": projects},
    )


PREVIEW_DAYS = 30


@login_required
def reclaim_preview_view(request: HttpRequest) -> HttpResponse:
    """What the idle and lease policies will do in the next N days, per project (a dry run)."""
    raw = request.GET.get("days") or str(PREVIEW_DAYS)
    days = int(raw) if raw.isdigit() and 1 <= int(raw) <= MAX_PREVIEW_DAYS else None
    if days is None:
        messages.error(request, f"Days must be a whole number from 1 to {MAX_PREVIEW_DAYS}.")
        days = PREVIEW_DAYS
    return render(
        request,
        "lifecycle/preview.html",
        {
            "days": days,
            "projects": reclaim_preview_by_project(user=request.user, days=days),
            "currency": user_currency(user=request.user),
        },
    )
