"""``credence audit``: export the hash-chained audit log, verify an export offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.audit.service import iter_records
from service.cli.context import cli_session, load_settings

app = typer.Typer(help="Audit log: export it, verify an export.", no_args_is_help=True)


@app.command("export")
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Write every audit event, oldest first, as JSON lines (what `audit verify` reads)."""
    settings = load_settings()
    count, head = 0, None
    with cli_session(settings) as session:
        target = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            for record in iter_records(session):
                line = json.dumps(record.to_mapping(), ensure_ascii=False, separators=(",", ":"))
                target.write(line + "\n")
                count, head = count + 1, record.seq
        finally:
            if output:
                target.close()
    where = f" to {output}" if output else ""
    typer.echo(f"Exported {count} event(s){where}; head seq {head}.", err=True)


@app.command("verify")
def verify(
    file: Annotated[str, typer.Argument(metavar="FILE", help="The export (JSON lines), or -")],
    checkpoint: Annotated[
        str | None,
        typer.Option(
            metavar="JWT|FILE",
            help="A signed checkpoint (GET /v1/audit/checkpoint): the JWT or a file with it",
        ),
    ] = None,
    jwks: Annotated[
        str | None,
        typer.Option(metavar="FILE|URL", help="The issuer's JWKS or did:web document"),
    ] = None,
    issuer: Annotated[
        str | None,
        typer.Option(
            metavar="ID",
            help="The issuer expected to have signed the checkpoint (https URL or did:web DID);"
            " without --jwks its key is fetched over https from that issuer only",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Recompute the chain offline and check it against a signed checkpoint; names the first
    edited, removed, inserted or reordered event (exit 0 intact, 1 not, 2 usage error)."""
    from credentials.audit_cli import run_audit_verify
    from credentials.cli import UsageError

    try:
        code = run_audit_verify(
            file,
            checkpoint=checkpoint,
            jwks=jwks,
            issuer=issuer,
            as_json=as_json,
            stdout=sys.stdout,
        )
    except UsageError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(code)
