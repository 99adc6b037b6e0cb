"""Nothing that holds a pooled connection waits for a second one: with SQLite's writers' lock
held by the first, writers queueing for that lock may hold every other connection of the pool,
and the wait would stall them all until the pool's timeout. Shown with an engine whose pool has
one connection (``pool_size=1, max_overflow=0``): a path that needed two would time out."""

from __future__ import annotations

import threading
import time
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


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/permissions/check?learner_id=ana", None, 422),  # no program: the handler's
        ("POST", "/v1/permissions/check", {"checks": "none"}, 422),  # FastAPI's validation
        ("POST", "/access/v1/evaluation", {"subject": 1}, 400),  # AuthZEN's 400
        ("POST", "/v1/completions", {"learner_id": "ana"}, 422),  # the combiner's door
        # well formed: the check's first read of the catalog (there is none: 404)
        ("GET", "/v1/permissions/check?learner_id=ana&program=post", None, 404),
    ],
)
def test_a_requests_own_reads_leave_the_event_loop_free(
    method: str,
    path: str,
    body: Any,
    status: int,
    make_key: Any,
    settings: Settings,
    one_connection: Engine,
) -> None:
    """A malformed request's key is read before it is told what is wrong (401/403 first), and
    a permission check reads a catalog revision it has not seen, on a worker thread: while that
    read waits for a connection (here the pool's one, held by the test), the event loop answers
    others. Had it read on the loop, ``/healthz`` would answer only after it gave up."""
    headers = {"Authorization": f"Bearer {make_key('admin', name='admin')}"}
    app = create_app(settings, engine=one_connection)
    finished: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:

        def ask() -> None:
            answer = client.request(method, path, json=body, headers=headers)
            finished.append(f"request {answer.status_code}")

        def health() -> None:
            client.get("/healthz").raise_for_status()
            finished.append("healthz")

        held = one_connection.connect()  # the pool's one connection
        held.exec_driver_sql("SELECT 1")
        first = threading.Thread(target=ask)
        first.start()
        time.sleep(0.2)  # its read (the key's, or the catalog's) now waits for the connection
        second = threading.Thread(target=health)
        second.start()
        second.join(timeout=10)
        done_before_release = list(finished)
        held.close()  # that read gets the connection
        first.join(timeout=10)
    assert done_before_release == ["healthz"], done_before_release
    assert finished[-1] == f"request {status}", finished
