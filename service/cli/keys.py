"""``credence keys``: signing key lifecycle (create, rotate, list, compromise)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from service.cli.context import cli_actor, cli_session, load_settings
from service.errors import ServiceError
from service.keys import service

app = typer.Typer(help="Manage the issuer's signing keys.", no_args_is_help=True)


@app.command("create")
def create(
    alg: Annotated[
        str | None, typer.Option(help="EdDSA, ES256 or RS256 (default: the setting)")
    ] = None,
) -> None:
    """Create a signing key and make it the active one of its algorithm (retiring the active
    key of that algorithm): the setting's algorithm signs VC-JWTs, EdDSA the Data Integrity
    proofs."""
    settings = load_settings()
    if alg is not None and alg not in ("EdDSA", "ES256", "RS256"):
        typer.echo("error: --alg must be EdDSA, ES256 or RS256", err=True)
        raise typer.Exit(2)
    with cli_session(settings) as session:
        key = service.create_key(session, settings, actor=cli_actor(), alg=alg)
    typer.echo(f"Active signing key {key.kid} ({key.alg}).")


@app.command("rotate")
def rotate() -> None:
    """Make a new active VC-JWT key (the setting's algorithm); the old one is retired and stays
    published in the JWKS."""
    settings = load_settings()
    with cli_session(settings) as session:
        key = service.create_key(session, settings, actor=cli_actor())
    typer.echo(f"Rotated: new active signing key {key.kid} ({key.alg}).")


@app.command("list")
def list_() -> None:
    """List signing keys: kid, algorithm, state, created, retired, compromised."""
    settings = load_settings()
    with cli_session(settings) as session:
        keys = service.list_keys(session)
    typer.echo(f"{'KID':<44} {'ALG':<6} {'STATE':<8} {'CREATED':<17} {'RETIRED':<17} COMPROMISED")
    for k in keys:
        fmt = "%Y-%m-%d %H:%M"
        typer.echo(
            f"{k.kid:<44} {k.alg:<6} {k.state:<8} {k.created_at.strftime(fmt):<17} "
            f"{k.retired_at.strftime(fmt) if k.retired_at else '-':<17} "
            f"{k.compromised_at.isoformat() if k.compromised_at else '-'}"
        )


@app.command("compromise")
def compromise(
    kid: Annotated[str, typer.Argument(help="The key's kid (thumbprint)")],
    since: Annotated[
        str, typer.Option(help="RFC 3339 time from which the key is distrusted (default now)")
    ] = "",
) -> None:
    """Mark a key compromised: credentials it signed from SINCE on fail verification."""
    settings = load_settings()
    try:
        at = datetime.fromisoformat(since) if since else datetime.now(UTC)
    except ValueError as exc:
        typer.echo(f"error: --since is not an RFC 3339 time: {since}", err=True)
        raise typer.Exit(2) from exc
    if at.tzinfo is None:
        typer.echo("error: --since needs a time zone, e.g. 2026-03-01T00:00:00Z", err=True)
        raise typer.Exit(2)
    try:
        with cli_session(settings) as session:
            service.mark_compromised(session, kid, at, actor=cli_actor())
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Key {kid} distrusted from {at.isoformat()}.")
