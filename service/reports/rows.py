"""Reports flattened to one header and rows: what CSV exports and the terminal tables print.

Every row ends with ``computed_at`` so a saved CSV file still says when it was computed.
Text cells come partly from API clients (group names are learner attribute values, names are
learners' names), so a CSV cell that a spreadsheet would read as a formula is neutralised.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from service.reports.schemas import (
    CertificationReport,
    CompletionRateReport,
    ComplianceReport,
    FunnelReport,
    OverdueReport,
)

Table = tuple[list[str], list[list[Any]]]


# OWASP's CSV-injection list (= + - @ tab CR), plus LF and NUL, which some readers also
# strip before deciding whether a cell is a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def neutralise(text: str) -> str:
    """A text cell a spreadsheet will show as text: one starting like a formula gets a leading
    single quote (OWASP CSV injection), anything else is unchanged."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return neutralise(value)
    # Numbers (a negative one included) stay numbers: only text can smuggle a formula.
    return "" if value is None else value


def certification_rows(report: CertificationReport) -> Table:
    header = [
        "group",
        "level",
        "learners",
        "holders",
        "share",
        "expiring_30",
        "expiring_60",
        "expiring_90",
        "expired_not_renewed",
        "in_progress",
        "at",
        "computed_at",
    ]
    rows = [
        [
            group.group,
            lv.level,
            group.learners,
            lv.holders,
            lv.share,
            lv.expiring_30,
            lv.expiring_60,
            lv.expiring_90,
            lv.expired_not_renewed,
            lv.in_progress,
            report.at,
            report.computed_at,
        ]
        for group in report.groups
        for lv in group.levels
    ]
    return header, rows


def completion_rate_rows(report: CompletionRateReport) -> Table:
    header = [
        "group",
        "month",
        "completions",
        "learners_completing",
        "learners_in_scope",
        "rate",
        "computed_at",
    ]
    rows = [
        [
            group.group,
            m.month,
            m.completions,
            m.learners_completing,
            m.learners_in_scope,
            m.rate,
            report.computed_at,
        ]
        for group in report.groups
        for m in group.months
    ]
    return header, rows


def compliance_rows(report: ComplianceReport) -> Table:
    header = [
        "role",
        "level",
        "within",
        "group",
        "learners",
        "compliant",
        "due",
        "overdue",
        "computed_at",
    ]
    rows = [
        [
            m.role,
            m.level,
            m.within,
            g.group,
            g.learners,
            g.compliant,
            g.due,
            g.overdue,
            report.computed_at,
        ]
        for m in report.mandates
        for g in m.groups
    ]
    return header, rows


def overdue_rows(report: OverdueReport) -> Table:
    header = [
        "role",
        "level",
        "learner_id",
        "name",
        "group",
        "role_since",
        "overdue_since",
        "computed_at",
    ]
    rows = [
        [
            x.role,
            x.level,
            x.learner_id,
            x.name,
            x.group,
            x.role_since,
            x.overdue_since,
            report.computed_at,
        ]
        for x in report.items
    ]
    return header, rows


def funnel_rows(report: FunnelReport) -> Table:
    header = ["track", "rank", "level", "name", "learners", "reached", "conversion", "computed_at"]
    rows = [
        [
            report.track,
            s.rank,
            s.level,
            s.name,
            report.learners,
            s.reached,
            s.conversion,
            report.computed_at,
        ]
        for s in report.steps
    ]
    return header, rows


def to_csv(table: Table) -> str:
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue()


def to_text(table: Table, *, skip: Sequence[str] = ("computed_at",)) -> str:
    """An aligned plain-text table for the terminal (numbers right-aligned, shares as %)."""
    header, rows = table
    keep = [i for i, name in enumerate(header) if name not in skip]
    cells = [[header[i].upper() for i in keep]]
    numeric = [True] * len(keep)
    for row in rows:
        line = []
        for n, i in enumerate(keep):
            value = row[i]
            if header[i] in ("share", "rate", "conversion") and isinstance(value, float):
                text = f"{value * 100:.1f}%"
            elif isinstance(value, datetime):
                text = value.strftime("%Y-%m-%d %H:%M")
            else:
                text = "-" if value is None else str(value)
            if not isinstance(value, int | float) and value is not None:
                numeric[n] = False
            line.append(text)
        cells.append(line)
    widths = [max(len(r[n]) for r in cells) for n in range(len(keep))]
    lines = []
    for r in cells:
        parts = [
            r[n].rjust(widths[n]) if numeric[n] else r[n].ljust(widths[n]) for n in range(len(keep))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
