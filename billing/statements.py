"""A closed statement as a document: CSV rows and a one-table PDF (reportlab)."""

from io import BytesIO

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from billing.models import Statement

HEADER = ["usage month", "project", "kind", "hours", "cost", "adjustment"]


def statement_csv_rows(statement: Statement) -> list[list[str]]:
    """Header, one row per line, and the total."""
    lines = [
        [
            f"{line.usage_month:%Y-%m}",
            line.project.name,
            line.kind,
            f"{line.hours:.2f}",
            f"{line.cost:.2f}",
            "yes" if line.is_adjustment else "",
        ]
        for line in statement.lines.all()
    ]
    return [HEADER, *lines, ["", "", "", "total", f"{statement.total:.2f}", statement.currency]]


def statement_pdf(statement: Statement) -> bytes:
    styles = getSampleStyleSheet()
    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Statement {statement}", author="Canopy"
    )
    table = Table(statement_csv_rows(statement), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.grey),
                ("ALIGN", (3, 0), (4, -1), "RIGHT"),
            ]
        )
    )
    document.build(
        [
            Paragraph(
                f"{statement.organization.name} — cost center {statement.cost_center}",
                styles["Title"],
            ),
            Paragraph(
                f"Statement for {statement.month:%B %Y}, closed "
                f"{statement.closed_at:%Y-%m-%d %H:%M} UTC. Amounts in {statement.currency}; "
                "adjustments are usage of earlier months metered after their statement closed.",
                styles["Normal"],
            ),
            Spacer(1, 12),
            table,
        ]
    )
    return buffer.getvalue()
