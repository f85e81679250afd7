"""Browser pages for a group's scaling rules; the panel itself lives on the resource page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from autoscaling.forms import ScalingPolicyForm, ScalingScheduleForm
from autoscaling.selectors import group_list, may_manage, policy_list, schedule_list
from autoscaling.services import policy_delete, policy_save, schedule_delete, schedule_save
from core.forms import form_add_service_errors

# What each kind of rule needs: its form, selector and services.
RULES = {
    "policy": (ScalingPolicyForm, policy_list, policy_save, policy_delete),
    "schedule": (ScalingScheduleForm, schedule_list, schedule_save, schedule_delete),
}


def _back(group_id: int):
    return redirect("provisioning:resource_detail", resource_id=group_id)


@login_required
def scaling_panel(request, group_id):
    """The panel alone, for htmx to refresh it."""
    group = get_object_or_404(group_list(user=request.user), pk=group_id)
    return render(request, "autoscaling/_resource_scaling.html", {"resource": group})


@login_required
def rule_edit(request, kind, group_id, rule_id=None):
    """Create (no `rule_id`) or change a policy or schedule of a group."""
    form_class, selector, save, _ = RULES[kind]
    group = get_object_or_404(group_list(user=request.user), pk=group_id)
    if not may_manage(user=request.user, group=group):
        raise PermissionDenied("Only the project's managers change its scaling rules.")
    rule = (
        get_object_or_404(selector(user=request.user), pk=rule_id, group=group) if rule_id else None
    )
    form = form_class(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        try:
            save(user=request.user, **{kind: rule}, data={"group": group, **form.cleaned_data})
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"The {kind} of {group.name} is saved.")
            return _back(group.pk)
    return render(
        request,
        "autoscaling/rule_form.html",
        {"form": form, "group": group, "kind": kind, "rule": rule},
    )


@login_required
@require_POST
def rule_delete(request, kind, group_id, rule_id):
    _, selector, _, delete = RULES[kind]
    rule = get_object_or_404(selector(user=request.user), pk=rule_id, group_id=group_id)
    delete(user=request.user, **{kind: rule})
    messages.success(request, f"The {kind} is deleted.")
    return _back(group_id)
