"""Browser pages: your API tokens, and the service accounts of the organizations you administer.
Thin: reads through `identity.selectors`, writes through `identity.services`."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.forms import form_add_service_errors
from identity import selectors, services
from identity.forms import ApiTokenForm, ServiceAccountForm


@login_required
def token_list_view(request: HttpRequest) -> HttpResponse:
    """Your tokens; POST creates one and shows its secret on this answer only."""
    form = ApiTokenForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_token_issue(
                user=request.user, created_by=request.user, **form.cleaned_data
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            form = ApiTokenForm()
    tokens = selectors.api_tokens_visible(user=request.user).filter(user=request.user)
    return render(
        request,
        "identity/token_list.html",
        {
            "form": form,
            "issued": issued,
            "tokens": tokens,
            "manages_service_accounts": selectors.projects_for_service_accounts(
                user=request.user
            ).exists(),
        },
    )


@login_required
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(selectors.api_tokens_visible(user=request.user), pk=token_id)
    services.api_token_revoke(token=token, by=request.user)
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    if token.user_id == request.user.pk:
        return redirect("identity:token_list")
    return redirect("identity:service_account_list")


@login_required
def service_account_list_view(request: HttpRequest) -> HttpResponse:
    """Organization admins: create service accounts, issue and revoke their tokens."""
    projects = selectors.projects_for_service_accounts(user=request.user)
    if not projects.exists():
        raise PermissionDenied("Only organization admins manage service accounts.")
    form = ServiceAccountForm(request.POST or None, projects=projects)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.service_account_create(created_by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Service account {account.user.username} created.")
            return redirect("identity:service_account_list")
    return _service_accounts_page(request, form=form)


@login_required
@require_POST
def service_account_token_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(
        selectors.service_accounts_administered(user=request.user), pk=account_id
    )
    token_form = ApiTokenForm(request.POST)
    issued = None
    if token_form.is_valid():
        try:
            issued = services.api_token_issue(
                user=account.user, created_by=request.user, **token_form.cleaned_data
            )
        except ValidationError as error:
            form_add_service_errors(token_form, error)
    if issued is None:
        messages.error(request, _form_errors_text(token_form))
    return _service_accounts_page(request, issued=issued, issued_for=account)


@login_required
@require_POST
def service_account_disable_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(
        selectors.service_accounts_administered(user=request.user), pk=account_id
    )
    services.service_account_disable(account=account, by=request.user)
    messages.success(request, f"{account.user.username} disabled: its tokens no longer work.")
    return redirect("identity:service_account_list")


def _service_accounts_page(request: HttpRequest, **context) -> HttpResponse:
    projects = selectors.projects_for_service_accounts(user=request.user)
    accounts = selectors.service_accounts_administered(user=request.user)
    tokens = selectors.api_tokens_visible(user=request.user).filter(
        user__in=accounts.values("user")
    )
    by_user: dict[int, list] = {}
    for token in tokens:
        by_user.setdefault(token.user_id, []).append(token)
    return render(
        request,
        "identity/service_account_list.html",
        {
            "form": ServiceAccountForm(projects=projects),
            "token_form": ApiTokenForm(),
            "accounts": [(account, by_user.get(account.user_id, [])) for account in accounts],
            **context,
        },
    )


def _form_errors_text(form: ApiTokenForm) -> str:
    """A failed form that is not redrawn, as one message: "Label: problem" per field."""
    parts = []
    for field, problems in form.errors.items():
        text = " ".join(problems)
        parts.append(f"{form[field].label}: {text}" if field in form.fields else text)
    return " ".join(parts)
