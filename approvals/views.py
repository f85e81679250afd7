"""Browser pages for approvers. Only approvals in the user's selector queryset are reachable."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.filtersets import ApprovalFilterSet
from approvals.forms import DelegationForm
from approvals.models import ApprovalRequest, ApprovalStatus
from approvals.selectors import (
    approval_inbox,
    approval_link_resolve,
    approval_list,
    approval_summary,
    delegation_list,
)
from approvals.services import (
    approval_can_decide,
    approval_decide,
    delegation_create,
    delegation_delete,
)
from portal.forms import form_add_service_errors
from portal.pagination import paginate


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


@login_required
@require_POST
def approval_decide_view(request, approval_id):
    approval = get_object_or_404(approval_list(user=request.user), pk=approval_id)
    decision = request.POST.get("decision")
    if decision not in ("approve", "reject"):
        messages.error(request, "Choose Approve or Reject.")
        return redirect("approvals:approval_detail", approval_id=approval.pk)
    try:
        approval_decide(
            user=request.user,
            approval_id=approval.pk,
            approve=decision == "approve",
            comment=request.POST.get("comment", "").strip(),
        )
    except (ValidationError, PermissionDenied) as error:
        text = " ".join(error.messages) if isinstance(error, ValidationError) else str(error)
        messages.error(request, text)
        return redirect("approvals:approval_detail", approval_id=approval.pk)
    verb = "approved" if decision == "approve" else "rejected"
    messages.success(request, f"Order #{approval.order_id} {verb}.")
    return redirect("approvals:approval_list")


@login_required
def delegation_list_view(request):
    form = DelegationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            delegation_create(delegator=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Delegated to {form.cleaned_data['delegate']}.")
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
