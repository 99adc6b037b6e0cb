"""``credence catalog``: apply a catalog file (diff first, optionally nothing else) and export."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from service.catalog import service as catalog
from service.catalog.validation import CatalogError, load_catalog
from service.cli.context import cli_actor, cli_session, load_settings
from service.errors import ServiceError

app = typer.Typer(
    help="The declarative catalog: apply a file (with a diff), export the current one.",
    no_args_is_help=True,
)


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="A catalog document, YAML or JSON")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff, write nothing")
    ] = False,
) -> None:
    """Make the catalog equal FILE, in one transaction; prints what changed, object by object."""
    settings = load_settings()
    try:
        document = load_catalog(file.read_bytes())
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror or exc}")
    except CatalogError as exc:
        _fail(f"{file} is not a valid catalog: {exc}")
    try:
        with cli_session(settings) as session:
            result = catalog.apply(session, document, actor=cli_actor(), dry_run=dry_run)
            if dry_run:
                session.rollback()  # not even the catalog's state row
    except ServiceError as exc:  # rules that need the database (e.g. names still in use)
        _fail(f"{file} cannot be applied: {exc.detail}")
    typer.echo(result.diff.render_text())
    counts = ", ".join(f"{n} {action}" for action, n in result.diff.summary().items())
    if dry_run:
        typer.echo(f"Dry run: {counts}; nothing was written.")
    elif result.applied:
        typer.echo(f"Applied: {counts}; catalog revision {result.revision}.")
    else:
        typer.echo(f"The catalog already matches {file}; nothing was written.")


@app.command("export")
def export(
    output_format: Annotated[
        Format, typer.Option("--format", "-f", help="yaml or json")
    ] = Format.yaml,
) -> None:
    """Print the active catalog as one document (the format `apply` takes)."""
    settings = load_settings()
    with cli_session(settings) as session:
        document = catalog.current_document(session)
    if output_format is Format.json:
        typer.echo(json.dumps(document.to_mapping(), indent=2, ensure_ascii=False))
    else:
        typer.echo(document.to_yaml(), nl=False)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
