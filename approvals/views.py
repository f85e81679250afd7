"""Browser pages for approvers. Only approvals in the user's selector queryset are reachable."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from approvals.filtersets import ApprovalFilterSet
from approvals.forms import DelegationForm, QuotaForm
from approvals.models import ApprovalRequest, ApprovalStatus, Quota
from approvals.selectors.deciders import (
    approval_inbox,
    approval_link_resolve,
    approval_list,
    decision_outcome,
    delegation_list,
    order_ids_awaiting_from,
)
from approvals.selectors.policies import approval_summary
from approvals.selectors.quota import quota_rows
from approvals.services.deciding import approval_can_decide, approval_decide
from approvals.services.delegation import delegation_create, delegation_delete
from approvals.services.quota import quota_can_change, quota_set
from core.forms import form_add_service_errors
from core.pagination import paginate
from core.selectors import project_list
from core.views import settings_form_page


@login_required
def approval_list_view(request):
    """Pending approvals first, then the decided ones, newest first: one page at a time, of the
    API's page size."""
    approvals = approval_list(user=request.user).order_by(
        Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "-created_at",
        "-id",
    )
    filters = ApprovalFilterSet(request.GET, queryset=approvals)
    page = paginate(request, filters.qs)
    actionable = set(
        approval_inbox(user=request.user)
        .filter(pk__in=[approval.pk for approval in page])
        .values_list("pk", flat=True)
    )
    return render(
        request,
        "approvals/approval_list.html",
        {"page": page, "filters": filters, "actionable": actionable},
        # An unknown status lists everything under the form's error, as a bad request.
        status=200 if filters.is_valid() else 400,
    )


def _detail(request, approval: ApprovalRequest, *, suggested: str = ""):
    return render(
        request,
        "approvals/approval_detail.html",
        {
            "approval": approval,
            "summary": approval_summary(order=approval.order),
            "can_decide": approval_can_decide(user=request.user, approval=approval),
            "suggested": suggested,
        },
    )


@login_required
def approval_detail(request, approval_id):
    return _detail(request, get_object_or_404(approval_list(user=request.user), pk=approval_id))


@login_required
def approval_link(request, token):
    """An emailed approve/reject link: it only preselects the decision on the approval page
    (GET never decides); the link must be the user's own and the permission holds now."""
    try:
        approval, decision = approval_link_resolve(user=request.user, token=token)
    except signing.SignatureExpired:
        messages.error(request, "This link has expired; decide from the list below.")
        return redirect("approvals:approval_list")
    except (signing.BadSignature, ApprovalRequest.DoesNotExist):
        messages.error(request, "This link is not valid for you, or the stage was decided.")
        return redirect("approvals:approval_list")
    return _detail(request, approval, suggested=decision)


def _decide(request, approval: ApprovalRequest, *, approve: bool, comment: str) -> bool:
    """Decide one approval and say what it did (or why not) as a message; True when decided."""
    stage_position = approval.current_stage.position if approval.current_stage else 0
    try:
        approval_decide(
            user=request.user, approval_id=approval.pk, approve=approve, comment=comment.strip()
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, f"Order #{approval.order_id}: {text}")
        return False
    messages.success(
        request, decision_outcome(approval_id=approval.pk, stage_position=stage_position)
    )
    return True


def _decision(request) -> bool | None:
    """The posted decision: True to approve, False to reject, None when neither was chosen."""
    return {"approve": True, "reject": False}.get(request.POST.get("decision", ""))


@login_required
@require_POST
def approval_decide_view(request, approval_id):
    approval = get_object_or_404(
        approval_list(user=request.user).select_related("current_stage"), pk=approval_id
    )
    approve = _decision(request)
    if approve is None:
        messages.error(request, "Choose Approve or Reject.")
        return redirect("approvals:approval_detail", approval_id=approval.pk)
    if not _decide(request, approval, approve=approve, comment=request.POST.get("comment", "")):
        return redirect("approvals:approval_detail", approval_id=approval.pk)
    return redirect("approvals:approval_list")


@login_required
@require_POST
def approval_decide_many_view(request):
    """The inbox's inline and bulk decision: the ticked approvals (or the one whose row button
    was pressed), one decision and one comment for all; each is decided on its own, so one
    refused (a stage that moved on, a reason the policy asks for) does not stop the others."""
    approve = _decision(request)
    chosen = request.POST.getlist("approval")
    if approve is None or not chosen:
        messages.error(request, "Tick at least one approval, then choose Approve or Reject.")
        return redirect("approvals:approval_list")
    approvals = approval_list(user=request.user).select_related("current_stage")
    comment = request.POST.get("comment", "")
    for approval in approvals.filter(pk__in=[pk for pk in chosen if pk.isdigit()]):
        _decide(request, approval, approve=approve, comment=comment)
    return redirect("approvals:approval_list")


@login_required
def quota_list_view(request):
    rows = quota_rows(user=request.user)
    changeable = {
        row.quota.pk
        for row in rows
        if row.quota.project and quota_can_change(user=request.user, project=row.quota.project)
    }
    return render(request, "approvals/quota_list.html", {"rows": rows, "changeable": changeable})


@login_required
def quota_edit(request, project_id):
    """Organization admins (and staff) set a project's limits."""
    project = get_object_or_404(project_list(user=request.user), pk=project_id)
    if not quota_can_change(user=request.user, project=project):
        raise PermissionDenied("Only staff and organization admins set quotas.")
    quota = Quota.objects.filter(project=project).first()
    form = QuotaForm(request.POST or None, instance=quota)

    def save() -> str:
        quota_set(user=request.user, project=project, limits=form.cleaned_data)
        return f"Quota of {project.name} saved."

    return settings_form_page(
        request,
        form,
        save=save,
        back=reverse("approvals:quota_list"),
        title=f"Quota of {project.name}",
        intro="Orders that do not fit are refused (or get an extra stage, as the policy says). "
        "Lowering a limit below what is taken refuses new orders; it does not touch running "
        "resources.",
    )


@login_required
def delegation_list_view(request):
    form = DelegationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        delegate = form.cleaned_data["delegate"]
        try:
            delegation_create(delegator=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Delegated to {delegate}.")
            own = [
                f"#{pk}"
                for pk in order_ids_awaiting_from(approver=request.user, requester=delegate)
            ]
            if own:
                messages.warning(
                    request,
                    f"{delegate} requested {', '.join(own)}, which wait for you: these stay "
                    "with you, as nobody approves their own order.",
                )
            return redirect("approvals:delegation_list")
    return render(
        request,
        "approvals/delegation_list.html",
        {"form": form, "delegations": delegation_list(user=request.user)},
    )


@login_required
@require_POST
def delegation_delete_view(request, delegation_id):
    try:
        delegation_delete(user=request.user, delegation_id=delegation_id)
    except PermissionDenied as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Delegation withdrawn.")
    return redirect("approvals:delegation_list")
