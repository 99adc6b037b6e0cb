"""Nothing that holds a pooled connection waits for a second one: with SQLite's writers' lock
held by the first, writers queueing for that lock may hold every other connection of the pool,
and the wait would stall them all until the pool's timeout. Shown with an engine whose pool has
one connection (``pool_size=1, max_overflow=0``): a path that needed two would time out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from service.app import create_app
from service.core.dedicated import DedicatedConnection
from service.db import make_engine
from service.models import Credential
from service.settings import Settings
from tests.conftest import Database
from tests.verification.conftest import Demo


@pytest.fixture
def one_connection(database: Database) -> Iterator[Engine]:
    engine = make_engine(database.url, pool_size=1, max_overflow=0, pool_timeout=2)
    yield engine
    engine.dispose()


def test_a_credential_page_verifies_without_a_second_pooled_connection(
    demo: Demo, settings: Settings, one_connection: Engine
) -> None:
    """The page's request session reads the credential (on SQLite, under the writers' lock),
    then verifies it; the verifier's own connection, opened then for the first time, comes
    from a pool of its own, not from the request's."""
    credential_id, _ = demo.earn("ana")
    app = create_app(settings, engine=one_connection)  # its verifier has not connected yet
    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/credentials/" + credential_id.removeprefix("urn:uuid:"))
    assert page.status_code == 200, page.text
    assert "Social Media Foundations" in page.text


def test_a_dedicated_connection_opens_while_the_pool_is_taken(one_connection: Engine) -> None:
    class Store(DedicatedConnection):
        pass

    store = Store(one_connection)
    with Session(one_connection) as session:
        session.exec(select(Credential).limit(1)).first()  # the pool's one connection, begun
        assert store.fetch("SELECT 1", []) == [(1,)]


def test_a_report_opens_its_snapshot_once_the_key_is_read(
    demo: Demo, make_key: Any, settings: Settings, one_connection: Engine
) -> None:
    """The key is read (its own connection, returned) before the report's read-only snapshot
    is opened, whatever order the route names them in."""
    demo.earn("ana")
    headers = {"Authorization": f"Bearer {make_key('reports:read', name='reports')}"}
    app = create_app(settings, engine=one_connection)
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/v1/reports/completion-rate", "/v1/reports/certification"):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.text)
        refused = client.get("/v1/reports/certification")
    assert refused.status_code == 401
