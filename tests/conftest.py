"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

The schema is made by ``alembic upgrade head`` only. SQLite: migrated once into a template file
that each test copies. PostgreSQL (``CREDENCE_TEST_POSTGRES_URL``): migrated once per session;
each test starts from empty tables (TRUNCATE). Without that variable the PostgreSQL half of
every test is skipped with a visible reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from service.api_clients.service import create_client
from service.app import create_app
from service.db import make_engine
from service.migrations import upgrade
from service.models import metadata
from service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("CREDENCE_TEST_POSTGRES_URL")


def _per_worker(url: str | None) -> str | None:
    """Under pytest-xdist each worker gets its own database next to the given one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    base = make_url(url)
    name = f"{base.database}_{worker}"
    admin = make_engine(
        base.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


POSTGRES_URL = _per_worker(POSTGRES_URL)
NO_POSTGRES = "CREDENCE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped"


@dataclass
class Database:
    kind: str
    url: str
    engine: Engine


def pytest_report_header(config: pytest.Config) -> list[str]:
    if POSTGRES_URL:
        return [f"databases: sqlite + postgresql ({make_url(POSTGRES_URL).render_as_string()})"]
    return [f"databases: sqlite only ({NO_POSTGRES})"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(POSTGRES_URL)
    return POSTGRES_URL


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "credence.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Database("sqlite", url, engine)
        engine.dispose()
    else:
        url = request.getfixturevalue("postgres_migrated")
        engine = make_engine(url)
        _truncate_all(engine)
        yield Database("postgresql", url, engine)
        engine.dispose()


@pytest.fixture
def settings(database: Database, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return Settings(
        database_url=database.url,
        base_url="https://credence.test",
        log_level="WARNING",
        dev_key_file=str(tmp_path / "dev-key"),
        suspension_status_entry=request.node.get_closest_marker("suspension_entry") is not None,
    )


def status_entries(credential: dict[str, Any]) -> list[dict[str, Any]]:
    """A credential's ``credentialStatus`` as a list (one object by default, an array of the
    revocation and suspension entries with ``CREDENCE_SUSPENSION_STATUS_ENTRY``)."""
    entries = credential.get("credentialStatus", [])
    return entries if isinstance(entries, list) else [entries]


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, engine=database.engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def make_key(database: Database):  # type: ignore[no-untyped-def]
    """Factory: an API key with the given scopes (created the way the CLI does)."""

    def make(*scopes: str, name: str = "test-client") -> str:
        with Session(database.engine) as session:
            _, key = create_client(session, name=name, scopes=scopes, actor="test")
            session.commit()
        return key

    return make


@pytest.fixture
def admin_headers(make_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_key('admin', name='admin')}"}


@contextlib.contextmanager
def fresh_database(kind: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty database for a live server to migrate (a SQLite file, or a
    PostgreSQL database dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"credence_live_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind for a live server (see :func:`fresh_database`)."""
    with fresh_database(request.param, tmp_path) as url:
        yield url
