"""Reports API (scope ``reports:read``): JSON by default, CSV with ``Accept: text/csv`` or
``?format=csv``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from service.auth.service import Principal
from service.core.ids import SLUG_PATTERN
from service.core.pagination import CursorParam, LimitParam
from service.core.times import Instant
from service.db import EngineDep
from service.deps import require
from service.errors import problem_responses
from service.issuance.context import IssuerDep
from service.reports import rows, service
from service.reports.repository import report_connection
from service.reports.schemas import (
    CertificationReport,
    CompletionRateReport,
    ComplianceReport,
    FunnelReport,
    OverdueReport,
)

CSV_MEDIA_TYPE = "text/csv"


ReadDep = Annotated[Principal, Depends(require("reports:read"))]


def read_session(engine: EngineDep, _: ReadDep) -> Iterator[Session]:
    """A read-only session on one snapshot: every query of a report sees the same data. Opened
    once the caller's key is admitted (the route's own ``ReadDep`` is the same, resolved once),
    so the key's read never waits for a second pooled connection while this one is held."""
    with report_connection(engine) as connection, Session(bind=connection) as s:
        yield s


ReadSessionDep = Annotated[Session, Depends(read_session)]
GroupByParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="A learner attribute (department, role, region...) or `all` (one group)",
    ),
]
FormatParam = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="`csv` for CSV (same as `Accept: text/csv`)"),
]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}}
}

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    responses=problem_responses(401, 403, 422, extra=CSV_RESPONSE),
)


def wants_csv(request: Request, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "csv"
    accept = request.headers.get("accept", "")
    return CSV_MEDIA_TYPE in accept and "application/json" not in accept


def respond(
    request: Request,
    format_: str | None,
    report: Any,
    table: Callable[[Any], rows.Table],
    name: str,
) -> Any:
    if not wants_csv(request, format_):
        return report
    stamp = report.computed_at.strftime("%Y%m%dT%H%M%SZ")
    return Response(
        rows.to_csv(table(report)),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"',
            "Report-Computed-At": report.computed_at.isoformat(),
        },
    )


@router.get(
    "/certification",
    operation_id="reportCertification",
    response_model=CertificationReport,
    responses=problem_responses(404),
)
def certification_report(
    request: Request,
    session: ReadSessionDep,
    issuer: IssuerDep,
    _: ReadDep,
    group_by: GroupByParam = None,
    track: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    at: Annotated[
        Instant | None, Query(description="The moment to report on (default now)")
    ] = None,
    format_: FormatParam = None,
) -> Any:
    """Per group: learners, holders of each level (count, share), expiring within 30/60/90
    days, expired and not renewed, in progress."""
    report = service.certification(
        session, issuer.catalog.get(session), group_by=group_by, track=track, at=at
    )
    return respond(request, format_, report, rows.certification_rows, "certification")


@router.get(
    "/completion-rate", operation_id="reportCompletionRate", response_model=CompletionRateReport
)
def completion_rate_report(
    request: Request,
    session: ReadSessionDep,
    _: ReadDep,
    months: Annotated[int, Query(ge=1, le=service.MAX_MONTHS)] = 12,
    group_by: GroupByParam = None,
    format_: FormatParam = None,
) -> Any:
    """Per calendar month (UTC): completions, learners completing, and their share of the
    learners in scope at the month's end (the ongoing completion rate)."""
    report = service.completion_rate(session, months=months, group_by=group_by)
    return respond(request, format_, report, rows.completion_rate_rows, "completion-rate")


RoleParam = Annotated[str | None, Query(pattern=SLUG_PATTERN, description="One role only")]


@router.get(
    "/compliance",
    operation_id="reportCompliance",
    response_model=ComplianceReport,
    responses=problem_responses(400, 404),
)
def compliance_report(
    request: Request,
    session: ReadSessionDep,
    issuer: IssuerDep,
    _: ReadDep,
    role: RoleParam = None,
    group_by: GroupByParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    format_: FormatParam = None,
) -> Any:
    """Each role mandate: learners with the role compliant, due or overdue (per group), with
    the overdue learners paginated (`cursor`, `limit`). CSV: the totals."""
    report = service.compliance(
        session,
        issuer.catalog.get(session),
        role=role,
        group_by=group_by,
        cursor=cursor,
        limit=limit,
    )
    return respond(request, format_, report, rows.compliance_rows, "compliance")


@router.get(
    "/compliance/overdue",
    operation_id="reportComplianceOverdue",
    response_model=OverdueReport,
    responses=problem_responses(400, 404),
)
def overdue_report(
    request: Request,
    session: ReadSessionDep,
    issuer: IssuerDep,
    _: ReadDep,
    role: RoleParam = None,
    group_by: GroupByParam = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    format_: FormatParam = None,
) -> Any:
    """Overdue learners (role, level, since when). CSV: every overdue learner, unpaginated."""
    csv = wants_csv(request, format_)
    report = service.overdue(
        session,
        issuer.catalog.get(session),
        role=role,
        group_by=group_by,
        cursor=None if csv else cursor,
        limit=None if csv else limit,
    )
    return respond(request, format_, report, rows.overdue_rows, "overdue")


@router.get(
    "/funnel",
    operation_id="reportFunnel",
    response_model=FunnelReport,
    responses=problem_responses(404),
)
def funnel_report(
    request: Request,
    session: ReadSessionDep,
    issuer: IssuerDep,
    _: ReadDep,
    track: Annotated[str, Query(pattern=SLUG_PATTERN)],
    format_: FormatParam = None,
) -> Any:
    """Learners reaching each rank of a track, and conversion between consecutive ranks."""
    report = service.funnel(session, issuer.catalog.get(session), track=track)
    return respond(request, format_, report, rows.funnel_rows, "funnel")
