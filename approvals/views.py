"""Browser pages for approvers. Only approvals in the user's selector queryset are reachable."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.models import ApprovalStatus
from approvals.selectors import approval_list
from approvals.services import approval_decide


@login_required
def approval_list_view(request):
    approvals = approval_list(user=request.user).order_by(
        Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        "-created_at",
        "-id",
    )
    return render(request, "approvals/approval_list.html", {"approvals": approvals})


@login_required
def approval_detail(request, approval_id):
    approval = get_object_or_404(approval_list(user=request.user), pk=approval_id)
    return render(request, "approvals/approval_detail.html", {"approval": approval})


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
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("approvals:approval_detail", approval_id=approval.pk)
    verb = "approved" if decision == "approve" else "rejected"
    messages.success(request, f"Order #{approval.order_id} {verb}.")
    return redirect("approvals:approval_list")
