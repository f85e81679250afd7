"""Browser pages for resources: list, detail with live state and day-2 actions, the order's
"delete all resources", and the admins' capability matrix and reconciler report."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, render

from core.pagination import paginate
from provisioning.filtersets import ResourceFilterSet
from provisioning.models import TRANSITIONAL_STATES, ResourceState
from provisioning.providers.base import ACTIONS as PROVIDER_ACTIONS
from provisioning.selectors import (
    capability_matrix,
    cloud_account_options,
    cloud_accounts_administered,
    resource_drifts,
    resource_list,
    resource_secret,
    unknown_objects,
)
from provisioning.services import DAY2_ACTIONS

# Display order and labels of the day-2 buttons; those a kind allows are shown.
ACTION_LABELS = [
    ("start", "Start"),
    ("stop", "Stop"),
    ("reboot", "Reboot"),
    ("resize", "Resize"),
    ("snapshot", "Snapshot"),
    ("extend", "Extend"),
    ("set_desired", "Set desired"),
    ("set_bounds", "Set bounds"),
    ("destroy", "Destroy"),
]


def _live_context(request, resource) -> dict:
    live = resource.state in TRANSITIONAL_STATES or resource.state == ResourceState.PLANNED
    allowed = DAY2_ACTIONS.get(resource.kind, set())
    sizes = []
    if "resize" in allowed:
        sizes = cloud_account_options(account=resource.cloud_account)["sizes"]
    return {
        "resource": resource,
        "live": live,
        "actions": [(action, label) for action, label in ACTION_LABELS if action in allowed],
        "sizes": sizes,
        "may_reveal": resource.kind == "database"
        and resource.order.requester_id == request.user.pk,
    }


@login_required
def resource_list_view(request):
    """Top-level resources (a group's servers are on the group's page), one page at a time,
    filtered as `/api/v1/resources/` filters."""
    filters = ResourceFilterSet(
        request.GET,
        queryset=resource_list(user=request.user).filter(parent=None).order_by("-id"),
        request=request,
    )
    page = paginate(request, filters.qs)
    return render(
        request,
        "provisioning/resource_list.html",
        {"page": page, "resources": page.object_list, "filters": filters},
        status=200 if filters.is_valid() else 400,
    )


@login_required
def resource_detail(request, resource_id):
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    context = _live_context(request, resource)
    context["children"] = resource.children.all()
    context["drifts"] = resource_drifts(resource=resource)
    return render(request, "provisioning/resource_detail.html", context)


@login_required
def resource_live(request, resource_id):
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    return render(request, "provisioning/_resource_live.html", _live_context(request, resource))


@login_required
def resource_secret_view(request, resource_id):
    """The database password, revealed on request to the order's requester only."""
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    secret = resource_secret(user=request.user, resource=resource)
    if not secret:
        raise PermissionDenied("Only the requester may see this secret.")
    return render(request, "provisioning/_secret.html", {"secret": secret})


@login_required
def capabilities(request):
    """Provider by kind by action, and tagged objects the reconciler could not match."""
    accounts = cloud_accounts_administered(user=request.user)
    if not request.user.is_staff and not accounts.exists():
        raise PermissionDenied("For organization admins.")
    return render(
        request,
        "provisioning/capabilities.html",
        {
            "matrix": capability_matrix(),
            "actions": PROVIDER_ACTIONS,
            "unknown": unknown_objects().filter(account__in=accounts),
        },
    )
