"""Browser pages for costs: the chargeback report with charts, its CSV, a resource's charges,
budgets and statements. Thin: every read goes through `billing.selectors`."""

import csv
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from billing import selectors, services
from billing.api.serializers import ChargebackQuerySerializer
from billing.forms import BudgetForm
from billing.models import Statement
from billing.statements import statement_csv_rows, statement_pdf
from portal.forms import form_add_service_errors

CHART_WIDTH = 640
CHART_HEIGHT = 160


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


def _daily_bars(days: list[dict]) -> list[dict]:
    """Bar geometry for the cost-over-time chart (server-rendered SVG, no JavaScript)."""
    peak = max((day["cost"] for day in days), default=Decimal("0")) or Decimal("1")
    width = CHART_WIDTH / max(len(days), 1)
    return [
        {
            "x": round(index * width, 1),
            "width": round(max(width - 2, 1), 1),
            "height": round(float(day["cost"] / peak) * (CHART_HEIGHT - 20), 1),
            "y": round(CHART_HEIGHT - float(day["cost"] / peak) * (CHART_HEIGHT - 20), 1),
            "day": day["day"],
            "cost": day["cost"],
        }
        for index, day in enumerate(days)
    ]


@login_required
def chargeback_view(request: HttpRequest) -> HttpResponse:
    query, errors = _query(request)
    report = selectors.chargeback_report(user=request.user, **query)
    days = selectors.cost_per_day(
        user=request.user, period=query["period"], filters=query["filters"]
    )
    params = {k: v for k, v in request.GET.items() if k not in ("group_by",)}
    peak = report.rows[0].cost if report.rows and report.rows[0].cost > 0 else Decimal("1")
    rows = [
        {
            "row": row,
            "share": round(float(row.cost / peak) * 100, 1),
            "drill": (
                "?" + urlencode({**params, report.group_by: row.key, "group_by": report.drill_down})
                if report.drill_down
                else None
            ),
        }
        for row in report.rows
    ]
    return render(
        request,
        "billing/chargeback.html",
        {
            "report": report,
            "rows": rows,
            "bars": _daily_bars(days),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT},
            "groups": list(selectors.GROUPS),
            "filters": query["filters"],
            "filter_labels": selectors.filter_labels(query["filters"]),
            "errors": errors,
            "query_string": request.GET.urlencode(),
            "period_value": request.GET.get("period", query["period"].label),
            # Lifecycle's savings panel reads the same period (`{% cost_savings period %}`).
            "period": query["period"],
        },
    )


@login_required
def chargeback_csv(request: HttpRequest) -> StreamingHttpResponse:
    """Every usage row of the report's scope, streamed: fine for a year of a large organization."""
    query, _ = _query(request)
    rows = selectors.usage_export(
        user=request.user, period=query["period"], filters=query["filters"]
    )
    response = StreamingHttpResponse(
        _csv_stream(selectors.EXPORT_COLUMNS, rows), content_type="text/csv"
    )
    name = f"canopy-usage-{query['period'].label.replace('..', '_')}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def resource_costs(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The end of a drill-down: a resource's lifecycle events and the hours they were charged."""
    query, _ = _query(request)
    detail = selectors.resource_cost_detail(
        user=request.user, resource_id=resource_id, period=query["period"]
    )
    if detail is None:
        raise Http404("No costs of this resource are visible to you.")
    return render(request, "billing/resource_costs.html", {**detail, "period": query["period"]})


@login_required
def budget_list_view(request: HttpRequest) -> HttpResponse:
    try:
        period = selectors.period_parse(period=request.GET.get("period"))
    except ValidationError:
        period = selectors.period_parse()
    statuses = selectors.budget_list(user=request.user, month=period.start.date())
    editable = set(selectors.budget_editable(user=request.user).values_list("pk", flat=True))
    return render(
        request,
        "billing/budget_list.html",
        {
            "statuses": statuses,
            "period": period,
            "editable": editable,
            "organizations": selectors.budget_organizations(user=request.user),
        },
    )


@login_required
def budget_edit(request: HttpRequest, budget_id: int | None = None) -> HttpResponse:
    """Create (no `budget_id`; `?organization=` when the user sets several organizations'
    budgets) or change a budget."""
    budget = (
        get_object_or_404(selectors.budget_editable(user=request.user), pk=budget_id)
        if budget_id
        else None
    )
    organizations = selectors.budget_organizations(user=request.user)
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
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.Meta.fields}
        try:
            saved = services.budget_save(
                user=request.user,
                budget=budget,
                organization_id=organization.pk,
                data={**data, "cost_center": data["cost_center"] or ""},
            )
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Budget of {saved.label} saved: {saved.monthly_amount}.")
            return redirect("billing:budget_list")
    return render(
        request,
        "portal/settings_form.html",
        {
            "form": form,
            "title": f"Budget of {budget.label}" if budget else f"New budget for {organization}",
            "intro": "A monthly spending limit. Alerts go at 50, 80 and 100 %; a refusing "
            "budget also refuses new orders that would take the month over it.",
            "back": reverse("billing:budget_list"),
        },
    )


@login_required
def statement_list_view(request: HttpRequest) -> HttpResponse:
    statements = selectors.statement_list(user=request.user)
    return render(request, "billing/statement_list.html", {"statements": statements})


def _statement(request: HttpRequest, statement_id: int) -> Statement:
    statement = selectors.statement_get(user=request.user, statement_id=statement_id)
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
