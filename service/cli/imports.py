"""``credence import completions FILE.csv``: stream a CSV of completions into the service.

The file is read line by line (never whole), rows are recorded in chunks of ``--chunk`` rows,
one transaction each, through the same code as ``POST /v1/completions/batch`` (source
``import``), so every rule, the idempotency and the issuance are the API's. Re-running a file is
safe: rows carry an ``external_id`` or get a deterministic one (see :func:`derived_external_id`),
so already stored rows are counted as duplicates.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from service.cli.context import cli_actor, load_settings
from service.completions.service import record_batch
from service.core.text import is_storable
from service.db import make_engine
from service.issuance.context import Issuer
from service.keys.service import ensure_development_key

app = typer.Typer(help="Import data from files.", no_args_is_help=True)

SOURCE = "import"
COLUMNS = (
    "learner_id",
    "course_id",
    "completed_at",
    "score",
    "passed",
    "external_id",
    "email",
    "name",
)
REQUIRED = ("learner_id", "course_id", "completed_at")
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class RowError(ValueError):
    pass


def derived_external_id(file_name: str, row: dict[str, str]) -> str:
    """``csv:<sha256 of the file name and the row's columns>`` for rows without an external_id.

    The same row in a file of the same name always gets the same id, so re-running an import is
    idempotent; the same row twice in one file is one completion (the second is a duplicate).
    """
    canonical = json.dumps([file_name, [row.get(c, "") for c in COLUMNS]], ensure_ascii=False)
    return "csv:" + hashlib.sha256(canonical.encode()).hexdigest()


def row_to_item(file_name: str, row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as a completion request body (types are checked by the API's model)."""
    values = {k: (v or "").strip() for k, v in row.items() if k is not None}
    unstorable = [k for k, v in values.items() if not is_storable(v)]
    if unstorable:  # as over HTTP: refused on both databases, not only by PostgreSQL
        raise RowError(f"{', '.join(unstorable)} contains a NUL character")
    item: dict[str, Any] = {c: values[c] for c in REQUIRED if values.get(c)}
    if values.get("score"):
        try:
            item["score"] = float(values["score"])
        except ValueError:
            raise RowError(f"score {values['score']!r} is not a number") from None
    passed = values.get("passed", "").lower()
    if passed:
        if passed not in _TRUE | _FALSE:
            raise RowError(f"passed {values['passed']!r} is not true/false")
        item["passed"] = passed in _TRUE
    item["external_id"] = values.get("external_id") or derived_external_id(file_name, values)
    learner = {k: values[k] for k in ("email", "name") if values.get(k)}
    if learner:
        item["learner"] = learner
    return item


@dataclass
class Summary:
    stored: int = 0
    duplicates: int = 0
    issued: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


class _CountingLines:
    """Decoded lines of a binary file, counting the bytes read (for the progress bar)."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.handle:
            self.bytes_read += len(raw)
            yield raw.decode("utf-8-sig" if self.bytes_read == len(raw) else "utf-8")


def _rows(lines: _CountingLines) -> Iterator[tuple[int, dict[str, str] | None, str | None]]:
    """(line number, row or None, error) per record; the header must name known columns."""
    reader = csv.DictReader(lines, strict=True)
    header = reader.fieldnames or []
    unknown = [c for c in header if c not in COLUMNS]
    missing = [c for c in REQUIRED if c not in header]
    if unknown or missing:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)}")
        raise RowError(f"header: {'; '.join(problems)} (columns: {', '.join(COLUMNS)})")
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            line = reader.line_num
            yield start, None, f"unreadable CSV: {exc}"
            continue
        line = reader.line_num
        if None in row or any(v is None for v in row.values()):
            yield start, None, f"expected {len(header)} fields"
            continue
        yield start, row, None


@app.command("completions")
def import_completions(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    chunk: Annotated[int, typer.Option(min=1, max=1000, help="Rows per transaction")] = 500,
    quiet: Annotated[bool, typer.Option(help="No progress bar")] = False,
) -> None:
    """Import completions from a CSV file (columns in the README), idempotent on re-run.

    Exit status: 0 when every row was stored or already present, 1 when some rows were
    rejected (listed with their line numbers), 2 when the file cannot be imported at all.
    """
    settings = load_settings()
    issuer = Issuer.build(settings)
    actor = cli_actor()
    summary = Summary()
    console = Console(stderr=True)
    size = file.stat().st_size
    engine = make_engine(settings.database_url.get_secret_value())
    with Session(engine) as session, session.begin():
        ensure_development_key(session, settings)
    with (
        file.open("rb") as handle,
        Progress(
            TextColumn("importing {task.fields[name]}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[rows]} rows"),
            TimeRemainingColumn(),
            console=console,
            disable=quiet,
        ) as progress,
    ):
        task = progress.add_task("import", total=size, name=file.name, rows=0)
        lines = _CountingLines(handle)
        pending: list[tuple[int, dict[str, Any]]] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if not pending:
                return
            with Session(engine, expire_on_commit=False) as session, session.begin():
                outcomes = record_batch(
                    session, issuer, [item for _, item in pending], source=SOURCE, actor=actor
                )
            for (line, _), outcome in zip(pending, outcomes, strict=True):
                if outcome.recorded is None:
                    assert outcome.problem is not None
                    summary.rejected.append((line, outcome.problem.detail))
                elif outcome.recorded.created:
                    summary.stored += 1
                    summary.issued += len(outcome.recorded.issued)
                else:
                    summary.duplicates += 1
            done += len(pending)
            pending.clear()
            progress.update(task, completed=lines.bytes_read, rows=done)

        try:
            for line, row, error in _rows(lines):
                if row is None:
                    summary.rejected.append((line, error or "unreadable"))
                    continue
                try:
                    pending.append((line, row_to_item(file.name, row)))
                except RowError as exc:
                    summary.rejected.append((line, str(exc)))
                if len(pending) >= chunk:
                    flush()
            flush()
        except RowError as exc:  # a bad header: nothing can be imported
            typer.echo(f"error: {file}: {exc}", err=True)
            raise typer.Exit(2) from exc
        except UnicodeDecodeError as exc:
            typer.echo(f"error: {file} is not UTF-8: {exc}", err=True)
            raise typer.Exit(2) from exc
        except SQLAlchemyError as exc:
            _print_summary(summary)
            typer.echo(
                f"error: the database failed after {done} rows (committed); the rows after "
                f"that were not imported, re-running the import is safe: {exc}",
                err=True,
            )
            raise typer.Exit(2) from exc
        finally:
            engine.dispose()
        progress.update(task, completed=size, rows=done)
    _print_summary(summary)
    if summary.rejected:
        raise typer.Exit(1)


def _print_summary(summary: Summary) -> None:
    rejected = sorted(summary.rejected)
    typer.echo(
        f"stored {summary.stored}, duplicates {summary.duplicates}, rejected {len(rejected)}, "
        f"credentials issued {summary.issued}"
    )
    for line, reason in rejected:
        typer.echo(f"  line {line}: {reason}")
