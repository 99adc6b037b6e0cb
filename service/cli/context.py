"""What CLI commands share: settings, and one committed transaction per command."""

from __future__ import annotations

import getpass
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from pydantic import ValidationError
from sqlmodel import Session

from service.db import make_engine
from service.settings import Settings


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(str(e["msg"]) for e in exc.errors())
        typer.echo(f"error: invalid configuration: {messages}", err=True)
        raise typer.Exit(2) from exc


def local_base_url(host: str, port: int) -> str:
    """The URL a server bound to ``host:port`` is reached at from this machine (a wildcard
    address is reached through the loopback one)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (naming the wildcard, not binding it)
        host = "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"http://{host}:{port}"


def serving_settings(host: str, port: int) -> Settings:
    """Settings for a server on ``host:port``: unless ``CREDENCE_BASE_URL`` is set, the base URL
    (and so credential, key and status-list URLs) is where that server answers. Also exported
    to the environment, for the worker processes the server starts."""
    settings = load_settings()
    if "base_url" not in settings.model_fields_set:
        os.environ["CREDENCE_BASE_URL"] = local_base_url(host, port)
        settings = load_settings()
    return settings


@contextmanager
def cli_session(settings: Settings) -> Iterator[Session]:
    """A session whose transaction commits when the command succeeds."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        with Session(engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        engine.dispose()


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"
