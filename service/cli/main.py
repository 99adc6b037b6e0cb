"""Entry point: ``credence serve | db | api-keys | openapi | verify ...``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli import api_keys, audit, catalog, imports, keys, reports
from service.cli.context import load_settings, serving_settings
from service.cli.demo import demo
from service.cli.worker import worker
from service.migrations import downgrade, upgrade

app = typer.Typer(
    help="Credence: certification and credential service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(api_keys.app, name="api-keys")
app.command()(worker)
app.command()(demo)
app.add_typer(catalog.app, name="catalog")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(imports.app, name="import")
app.add_typer(reports.app, name="report")


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def verify(ctx: typer.Context) -> None:
    """Verify a credential offline: FILE|- --issuer ID|--jwks FILE|URL [--status-list ...]."""
    from credentials.cli import verify_main

    raise typer.Exit(verify_main(ctx.args))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn. Unless CREDENCE_BASE_URL is set, credentials, keys and status
    lists are named under http://HOST:PORT."""
    from service.http_limits import http_protocol
    from service.serving import serve as serve_app

    # fail fast, with a readable message, on bad configuration
    settings = serving_settings(host, port)
    typer.echo(f"Base URL (credential, key and status-list URLs): {settings.base_url}")
    serve_app(  # each worker on its own socket: connections spread over them (service/serving.py)
        "service.app:create_served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=True,
        http=http_protocol(),
        # the cap on a request's head, for h11 and for the capped httptools protocol alike
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the database to the newest schema (or REVISION)."""
    settings = load_settings()
    upgrade(settings.database_url.get_secret_value(), revision)
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Migrate the database down to REVISION (`base` removes everything)."""
    settings = load_settings()
    downgrade(settings.database_url.get_secret_value(), revision)
    typer.echo(f"Database at {revision}.")


@db_app.command("build-facts")
def db_build_facts() -> None:
    """Build each learner's facts row for permission checks (PostgreSQL), ahead of the checks.

    Optional: a check builds the row of a learner it finds without one (or with one older than
    the learner's last change); this spares the first checks after an upgrade or a bulk import
    that work. Safe while the service runs."""
    from service.db import make_engine
    from service.permissions.repository import build_summaries

    settings = load_settings()
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        if engine.dialect.name != "postgresql":
            typer.echo("Nothing to build: SQLite reads each learner's facts directly.")
            return
        visited = build_summaries(engine)
    finally:
        engine.dispose()
    typer.echo(f"Facts rows built or brought up to date for {visited} learner(s).")


@app.command()
def openapi(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("openapi/openapi.json"),
) -> None:
    """Write the OpenAPI document generated from the app."""
    from service.app import create_app
    from service.settings import Settings

    document = create_app(Settings(log_level="WARNING")).openapi()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    typer.echo(f"Wrote {output}")


def main() -> None:
    app()
