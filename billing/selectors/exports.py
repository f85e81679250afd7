"""What the CSVs hold: a report's summary (one line per group, as on the page) and the raw
hours (every usage row, written in the background by `services.exports`)."""

from collections.abc import Iterator

from django.contrib.auth.models import AbstractUser

from billing.selectors.access import usage_filtered
from billing.selectors.chargeback import GROUP_LABELS, ChargebackReport
from billing.selectors.periods import Period

# The CSV's columns: (usage field, the header people read).
EXPORT_COLUMNS: list[tuple[str, str]] = [
    ("hour", "Hour (UTC)"),
    ("resource_id", "Resource id"),
    ("resource__name", "Resource"),
    ("kind", "Kind"),
    ("size", "Size"),
    ("quantity", "Quantity"),
    ("unit", "Unit"),
    ("hours", "Hours"),
    ("running_hours", "Running hours"),
    ("rate", "Rate per running hour"),
    ("idle_rate", "Rate per stopped hour"),
    ("one_time", "One-time fee"),
    ("cost", "Cost"),
    ("organization__name", "Organization"),
    ("project__name", "Project"),
    ("cost_center", "Cost center"),
    ("user__username", "User"),
    ("catalog_item__name", "Catalog item"),
    ("provider", "Provider"),
    ("unpriced", "Unpriced (no rate)"),
]


EXPORT_HEADER = [header for _, header in EXPORT_COLUMNS]


def usage_export(
    *, user: AbstractUser, period: Period, filters: dict, showback: bool = False
) -> Iterator[tuple]:
    """Every visible usage row of the period, streamed from a server-side cursor; `unpriced`
    reads "yes" or is empty."""
    rows = (
        usage_filtered(user=user, period=period, filters=filters, showback=showback)
        .order_by("hour", "resource_id")
        .values_list(*(name for name, _ in EXPORT_COLUMNS))
        .iterator(chunk_size=5000)
    )
    return ((*row[:-1], "yes" if row[-1] else "") for row in rows)


def summary_csv_rows(report: ChargebackReport) -> Iterator[list]:
    """The report as a table people read: a header, one line per group, the total."""
    estimated = " (estimated)" if report.includes_now else ""
    yield [
        GROUP_LABELS[report.group_by],
        f"Cost ({report.currency})",
        f"Accrued since the last metered hour{estimated}",
        "Cost with accrued",
        "Run rate per month",
        "Resource-hours",
        "Running hours",
        "Unpriced (no rate)",
    ]
    for row in report.rows:
        yield [
            row.label,
            row.cost,
            row.accrued,
            row.cost_with_accrued,
            row.run_rate,
            row.quantity,
            row.running_hours,
            row.unpriced or "",
        ]
    yield ["Total", report.total, report.accrued, report.total_with_accrued, report.run_rate]
