"""``credence api-keys``: create, list and revoke API clients."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from service.api_clients import service
from service.auth.keys import SCOPES
from service.auth.service import authenticate
from service.cli.context import cli_actor, cli_session, load_settings
from service.db import make_engine
from service.errors import ServiceError
from service.settings import Settings

app = typer.Typer(help="Manage API clients and their keys.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name for the client, e.g. moodle-prod")],
    scope: Annotated[
        list[str], typer.Option(help=f"Scope to grant (repeatable): {', '.join(SCOPES)}")
    ],
) -> None:
    """Create an API client; the key is printed once, as the last line."""
    settings = load_settings()
    try:
        with cli_session(settings) as session:
            client, key = service.create_client(session, name=name, scopes=scope, actor=cli_actor())
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"Created API client {client.name!r} (prefix {client.prefix}, scopes: "
        f"{client.scopes}). The key is shown only now:"
    )
    typer.echo(key)


@app.command("list")
def list_() -> None:
    """List API clients (prefix, name, scopes, created, revoked)."""
    settings = load_settings()
    with cli_session(settings) as session:
        clients = service.list_clients(session, after_id=0, limit=10_000)
    typer.echo(f"{'PREFIX':<12} {'NAME':<28} {'CREATED':<20} {'REVOKED':<20} SCOPES")
    for c in clients:
        revoked = c.revoked_at.strftime("%Y-%m-%d %H:%M") if c.revoked_at else "-"
        created = c.created_at.strftime("%Y-%m-%d %H:%M")
        typer.echo(f"{c.prefix:<12} {c.name[:28]:<28} {created:<20} {revoked:<20} {c.scopes}")


@app.command("revoke")
def revoke(prefix: Annotated[str, typer.Argument(help="The client's public prefix")]) -> None:
    """Revoke an API client; its key stops working at once."""
    settings = load_settings()
    try:
        with cli_session(settings) as session:
            service.revoke_client(session, prefix, actor=cli_actor())
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Revoked API client {prefix}.")


@app.command("ensure-dev")
def ensure_dev() -> None:
    """Development only: make sure a local admin key exists and print it (last line)."""
    settings = load_settings()
    if settings.env != "development":
        typer.echo("error: ensure-dev is for CREDENCE_ENV=development only", err=True)
        raise typer.Exit(2)
    typer.echo(
        ensure_key_file(settings, Path(settings.dev_key_file), name="development", scopes=["admin"])
    )


def ensure_key_file(settings: Settings, path: Path, *, name: str, scopes: list[str]) -> str:
    """The key kept in ``path`` while it still works; else a new client's key, written there
    (owner-only). Writes nothing when the kept key works."""
    if path.exists():
        key = path.read_text().strip()
        engine = make_engine(settings.database_url.get_secret_value())
        try:
            if authenticate(engine, key) is not None:
                return key
        finally:
            engine.dispose()
    with cli_session(settings) as session:
        _, key = service.create_client(session, name=name, scopes=scopes, actor=cli_actor())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
