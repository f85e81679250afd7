"""Browser pages for costs: the chargeback report with charts, its CSV, a resource's charges,
budgets and statements. Thin: every read goes through `billing.selectors`."""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from billing import charts
from billing.api.serializers import ChargebackQuerySerializer
from billing.forms import BudgetForm
from billing.models import Statement
from billing.selectors import budgets, chargeback, exports, periods, statements, whatif
from billing.services import budgets as budget_services
from billing.services import exports as export_services
from billing.statements import statement_csv_rows, statement_pdf
from core.pagination import page_size
from core.views import settings_form_page


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def _query(request: HttpRequest) -> tuple[dict, dict]:
    """The validated report query, or the defaults with the per-field errors to show."""
    query = ChargebackQuerySerializer(data=request.GET)
    if query.is_valid():
        return query.validated_data, {}
    fallback = ChargebackQuerySerializer(data={})
    fallback.is_valid()
    return fallback.validated_data, query.errors


def _report_page(request: HttpRequest, *, showback: bool) -> HttpResponse:
    """The chargeback report (or its showback twin) with its charts."""
    query, errors = _query(request)
    now = timezone.now()
    card_id = query.pop("whatif", None)
    draft = None
    if card_id:
        try:
            draft = whatif.draft_card_get(user=request.user, card_id=card_id)
        except ValidationError as error:
            errors = {**errors, **error.message_dict}
    report = chargeback.chargeback_report(
        user=request.user,
        showback=showback,
        now=now,
        whatif=draft,
        page=_page_number(request),
        page_size=page_size(request),
        **query,
    )
    period, filters = query["period"], query["filters"]
    params = {k: v for k, v in request.GET.items() if k not in ("group_by",)}
    peak = max((row.cost_with_accrued for row in report.rows), default=Decimal("0"))
    rows = [
        {
            "row": row,
            "share": round(float(row.cost_with_accrued / peak) * 100, 1) if peak > 0 else 0,
            "drill": (
                "?" + urlencode({**params, report.group_by: row.key, "group_by": report.drill_down})
                if report.drill_down
                else None
            ),
        }
        for row in report.rows
    ]
    chart_args = {
        "user": request.user,
        "period": period,
        "filters": filters,
        "running": report.running,
        "showback": showback,
    }
    return render(
        request,
        "billing/chargeback.html",
        {
            "report": report,
            "rows": rows,
            "charts": {
                "over_time": charts.cost_over_time(**chart_args, now=now),
                "by_month": charts.cost_by_month(**chart_args, now=now),
            },
            "groups": chargeback.GROUP_LABELS.items(),
            "draft_cards": whatif.draft_cards(user=request.user),
            "group_label": chargeback.GROUP_LABELS[report.group_by],
            "filters": filters,
            "filter_labels": {
                chargeback.GROUP_LABELS[group]: label
                for group, label in chargeback.filter_labels(filters).items()
            },
            "errors": errors,
            "query_string": request.GET.urlencode(),
            "page": _page(report),
            "period_value": request.GET.get("period", period.label),
            # Lifecycle's savings panel reads the same period (`{% cost_savings period %}`).
            "period": period,
        },
    )


def _page_number(request: HttpRequest) -> int:
    page = request.GET.get("page", "1")
    return int(page) if page.isdigit() else 1


def _page(report: chargeback.ChargebackReport) -> Page:
    """The report's page for the list's page links (`core/_pagination.html`): the rows are
    counted and sliced by the database, the paginator only numbers the pages."""
    return Paginator(range(report.count), report.page_size or max(report.count, 1)).get_page(
        report.page
    )


@login_required
def chargeback_view(request: HttpRequest) -> HttpResponse:
    return _report_page(request, showback=False)


@login_required
def showback_view(request: HttpRequest) -> HttpResponse:
    """The same figures for every member of a project: costs shown, not charged."""
    return _report_page(request, showback=True)


@login_required
def chargeback_csv(request: HttpRequest) -> HttpResponse:
    """The report as on the page, one line per group (every group: by resource, every page)."""
    query, _ = _query(request)
    query.pop("whatif", None)
    showback = request.GET.get("showback") == "1"
    report = chargeback.chargeback_report(user=request.user, showback=showback, whole=True, **query)
    header, *rows = exports.summary_csv_rows(report)
    response = HttpResponse("".join(_csv_stream(header, rows)), content_type="text/csv")
    label = query["period"].label.replace("..", "_")
    name = f"canopy-costs-{label}-by-{report.group_by.replace('_', '-')}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def usage_export_start(request: HttpRequest) -> HttpResponse:
    """Ask for the raw hours of the report's scope: written in the background, the user is
    notified with the link when the file is ready."""
    query, _ = _query(request)
    export_services.usage_export_request(
        user=request.user,
        period=query["period"],
        filters=query["filters"],
        showback=request.GET.get("showback") == "1",
    )
    messages.info(
        request,
        "The usage hours are being prepared; you will get a notification with the link to "
        "download them.",
    )
    return redirect(reverse("billing:chargeback") + "?" + request.GET.urlencode())


@login_required
def usage_export_download(request: HttpRequest, export_id: str) -> FileResponse:
    path = export_services.usage_export_path(user=request.user, export_id=export_id)
    if path is None:
        raise Http404("No such export, or not ready yet.")
    return FileResponse(
        open(path, "rb"),
        as_attachment=True,
        filename=f"canopy-usage-{export_id[:8]}.csv",
        content_type="text/csv",
    )


@login_required
def resource_costs(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The end of a drill-down: a resource's lifecycle events and the hours they were charged."""
    query, _ = _query(request)
    detail = chargeback.resource_cost_detail(
        user=request.user, resource_id=resource_id, period=query["period"]
    )
    if detail is None:
        raise Http404("No costs of this resource are visible to you.")
    return render(request, "billing/resource_costs.html", {**detail, "period": query["period"]})


@login_required
def budget_list_view(request: HttpRequest) -> HttpResponse:
    try:
        period = periods.period_parse(period=request.GET.get("period"))
    except ValidationError:
        period = periods.period_parse()
    now = timezone.now()
    statuses = budgets.budget_list(user=request.user, month=period.start.date(), now=now)
    burn_downs = [
        {
            "status": status,
            "chart": charts.budget_burn_down(status=status, now=now),
            "element_id": f"burn-down-{status.budget.pk}",
        }
        for status in statuses
    ]
    editable = set(budgets.budget_editable(user=request.user).values_list("pk", flat=True))
    return render(
        request,
        "billing/budget_list.html",
        {
            "statuses": statuses,
            "burn_downs": burn_downs,
            "period": period,
            "editable": editable,
            "organizations": budgets.budget_organizations(user=request.user),
        },
    )


@login_required
def budget_edit(request: HttpRequest, budget_id: int | None = None) -> HttpResponse:
    """Create (no `budget_id`; `?organization=` when the user sets several organizations'
    budgets) or change a budget."""
    budget = (
        get_object_or_404(budgets.budget_editable(user=request.user), pk=budget_id)
        if budget_id
        else None
    )
    organizations = budgets.budget_organizations(user=request.user)
    if budget is not None:
        organization = budget.organization
    else:
        chosen = request.GET.get("organization", "")
        organization = (
            organizations.filter(pk=chosen).first() if chosen.isdigit() else organizations.first()
        )
        if organization is None:
            raise PermissionDenied("Only finance people and organization admins set budgets.")
    form = BudgetForm(request.POST or None, instance=budget, organization_id=organization.pk)

    def save() -> str:
        data = {name: form.cleaned_data[name] for name in form.Meta.fields}
        saved = budget_services.budget_save(
            user=request.user,
            budget=budget,
            organization_id=organization.pk,
            data={**data, "cost_center": data["cost_center"] or ""},
        )
        return f"Budget of {saved.label} saved: {saved.monthly_amount}."

    return settings_form_page(
        request,
        form,
        save=save,
        back=reverse("billing:budget_list"),
        title=f"Budget of {budget.label}" if budget else f"New budget for {organization}",
        intro="A monthly spending limit. Alerts go at 50, 80 and 100 %; a refusing budget also "
        "refuses new orders that would take the month over it.",
        delete_url=reverse("billing:budget_delete", args=[budget.pk]) if budget else "",
        delete_confirm=f"Delete the budget of {budget.label}?" if budget else "",
    )


@login_required
@require_POST
def budget_delete_view(request: HttpRequest, budget_id: int) -> HttpResponse:
    budget = get_object_or_404(budgets.budget_editable(user=request.user), pk=budget_id)
    budget_services.budget_delete(user=request.user, budget=budget)
    messages.success(request, f"Budget of {budget.label} deleted.")
    return redirect("billing:budget_list")


@login_required
def statement_list_view(request: HttpRequest) -> HttpResponse:
    rows = statements.statement_list(user=request.user)
    return render(request, "billing/statement_list.html", {"statements": rows})


def _statement(request: HttpRequest, statement_id: int) -> Statement:
    statement = statements.statement_get(user=request.user, statement_id=statement_id)
    if statement is None:
        raise Http404("No such statement.")
    return statement


@login_required
def statement_detail(request: HttpRequest, statement_id: int) -> HttpResponse:
    statement = _statement(request, statement_id)
    return render(request, "billing/statement_detail.html", {"statement": statement})


@login_required
def statement_download(request: HttpRequest, statement_id: int, fmt: str) -> HttpResponse:
    statement = _statement(request, statement_id)
    name = f"statement-{statement.cost_center}-{statement.month:%Y-%m}.{fmt}"
    if fmt == "pdf":
        response = HttpResponse(statement_pdf(statement), content_type="application/pdf")
    else:
        header, *rows = statement_csv_rows(statement)
        response = HttpResponse("".join(_csv_stream(header, rows)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
