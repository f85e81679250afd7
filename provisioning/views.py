"""Browser pages for resources: list, detail with live state, day-2 actions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from provisioning.models import TRANSITIONAL_STATES, ResourceState
from provisioning.selectors import resource_list
from provisioning.services import resource_action_request

ACTIONS = [("stop", "Stop"), ("start", "Start"), ("reboot", "Reboot"), ("destroy", "Destroy")]


@login_required
def resource_list_view(request):
    return render(
        request, "provisioning/resource_list.html", {"resources": resource_list(user=request.user)}
    )


def _live_context(resource) -> dict:
    live = resource.state in TRANSITIONAL_STATES or resource.state == ResourceState.PLANNED
    return {"resource": resource, "live": live, "actions": ACTIONS}


@login_required
def resource_detail(request, resource_id):
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    return render(request, "provisioning/resource_detail.html", _live_context(resource))


@login_required
def resource_live(request, resource_id):
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    return render(request, "provisioning/_resource_live.html", _live_context(resource))


@login_required
@require_POST
def resource_action(request, resource_id):
    resource = get_object_or_404(resource_list(user=request.user), pk=resource_id)
    action = request.POST.get("action", "")
    try:
        resource_action_request(user=request.user, resource_id=resource.pk, action=action)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{action.capitalize()} requested for {resource.name}.")
    return redirect("provisioning:resource_detail", resource_id=resource.pk)
