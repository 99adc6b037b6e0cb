"""``credence report certification|completion-rate|compliance|funnel``: reports as terminal
tables (or CSV with ``--csv``), computed in-process against the configured database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlmodel import Session

from service.cli.context import load_settings
from service.db import make_engine
from service.errors import ServiceError
from service.issuance.compiled import compile_catalog
from service.reports import rows, service
from service.reports.repository import report_connection

app = typer.Typer(help="Reports: certification, completion rate, compliance, funnel.")

GroupBy = Annotated[
    str | None,
    typer.Option("--group-by", help="A learner attribute (department, role, region...)"),
]
Csv = Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table")]


@contextmanager
def _read_session() -> Iterator[Session]:
    settings = load_settings()
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        with report_connection(engine) as connection, Session(bind=connection) as session:
            yield session
    finally:
        engine.dispose()


def _print(
    build: Callable[[Session], Any], table: Callable[[Any], rows.Table], csv: bool, title: str
) -> None:
    try:
        with _read_session() as session:
            report = build(session)
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    if csv:
        typer.echo(rows.to_csv(table(report)), nl=False)
        return
    typer.echo(f"{title} (computed {report.computed_at:%Y-%m-%d %H:%M:%S} UTC)")
    typer.echo(rows.to_text(table(report)))


def _catalog(session: Session) -> Any:
    return compile_catalog(session, revision=-1)


@app.command("certification")
def certification(
    group_by: GroupBy = None,
    track: Annotated[str | None, typer.Option(help="One track only")] = None,
    at: Annotated[
        datetime | None, typer.Option(help="The moment (ISO 8601 with a zone); default now")
    ] = None,
    csv: Csv = False,
) -> None:
    """Holders of each level per group, expiring soon, expired, in progress."""
    _print(
        lambda s: service.certification(s, _catalog(s), group_by=group_by, track=track, at=at),
        rows.certification_rows,
        csv,
        "Certification",
    )


@app.command("completion-rate")
def completion_rate(
    months: Annotated[int, typer.Option(min=1, max=service.MAX_MONTHS)] = 12,
    group_by: GroupBy = None,
    csv: Csv = False,
) -> None:
    """Completions and learners completing per calendar month, as a share of those in scope."""
    _print(
        lambda s: service.completion_rate(s, months=months, group_by=group_by),
        rows.completion_rate_rows,
        csv,
        "Completion rate",
    )


@app.command("compliance")
def compliance(
    role: Annotated[str | None, typer.Option(help="One role only")] = None,
    group_by: GroupBy = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="List the overdue learners")] = False,
    csv: Csv = False,
) -> None:
    """Role mandates: compliant, due and overdue learners (``--overdue``: who is overdue)."""
    if overdue:
        _print(
            lambda s: service.overdue(
                s, _catalog(s), role=role, group_by=group_by, cursor=None, limit=None
            ),
            rows.overdue_rows,
            csv,
            "Overdue learners",
        )
        return
    _print(
        lambda s: service.compliance(s, _catalog(s), role=role, group_by=group_by, limit=1),
        rows.compliance_rows,
        csv,
        "Compliance",
    )


@app.command("funnel")
def funnel(
    track: Annotated[str, typer.Option(help="The track")],
    csv: Csv = False,
) -> None:
    """Learners reaching each rank of a track, and the conversion between ranks."""
    _print(
        lambda s: service.funnel(s, _catalog(s), track=track),
        rows.funnel_rows,
        csv,
        "Funnel",
    )
