"""A real third-party xAPI client (Rustici's TinCanPython, PyPI ``tincan``) against a running
Credence (uvicorn via ``python -m service.cli serve``), authenticating as LRS clients do: Basic
with the key's prefix as username and its secret as password."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import REPO
from tests.xapi.conftest import BRAND, DEMO, PASSED, POLICY

tincan = pytest.importorskip(
    "tincan", reason="the tincan test dependency is not installed (pip install 'tincan>=1.0')"
)

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(database) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One uvicorn process serving Credence on the test database."""
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": database.url,
        "CREDENCE_BASE_URL": "https://credence.test",
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_XAPI_ATTACHMENTS": "store",
    }
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # as tests/robustness/live.py: a loaded machine is slow
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()


def _statement(activity: str, account: str, *, scaled: float, sid: str | None = None):  # type: ignore[no-untyped-def]
    from tincan import (
        Activity,
        ActivityDefinition,
        Agent,
        AgentAccount,
        Context,
        ContextActivities,
        Extensions,
        LanguageMap,
        Result,
        Score,
        Statement,
        Verb,
    )

    return Statement(
        id=sid,
        actor=Agent(
            name="Ana Lima", account=AgentAccount(home_page="https://lms.example.com", name=account)
        ),
        verb=Verb(id=PASSED, display=LanguageMap({"en-US": "passed"})),
        object=Activity(
            id=activity,
            definition=ActivityDefinition(
                name=LanguageMap({"en-US": activity.rsplit("/", 1)[-1]}),
                type="https://w3id.org/xapi/cmi5/activitytype/block",
            ),
        ),
        result=Result(score=Score(scaled=scaled), success=True, duration=dt.timedelta(minutes=12)),
        context=Context(
            registration=uuid.uuid4(),
            context_activities=ContextActivities(
                category=[Activity(id="https://w3id.org/xapi/cmi5/context/categories/cmi5")]
            ),
            extensions=Extensions(
                {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "s-1"}
            ),
        ),
        timestamp=dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC),
    )


def test_tincan_client_sends_statements_and_credentials_appear(  # type: ignore[no-untyped-def]
    server, make_key
) -> None:
    from tincan import RemoteLRS, StatementList

    admin = {"Authorization": f"Bearer {make_key('admin', name='admin')}"}
    applied = httpx.put(
        f"{server}/v1/catalog",
        content=(DEMO / "social-media-program.yaml").read_bytes(),
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    _, prefix, secret = make_key("completions:write", "xapi:read", name="lrs").split("_", 2)
    lrs = RemoteLRS(endpoint=f"{server}/xapi/", version="1.0.3", username=prefix, password=secret)

    # PUT with an id (save_statement) → 204, success
    sid = str(uuid.uuid4())
    first = _statement(POLICY, "ana", scaled=0.9, sid=sid)
    put = lrs.save_statement(first)
    assert put.success, put.data
    assert put.response.status == 204
    assert put.response.getheader("X-Experience-API-Version") == "1.0.3"

    # POST a list without ids (save_statements) → the server's ids are written back
    batch = StatementList(
        [_statement(BRAND, "ana", scaled=1.0), _statement(POLICY, "bo", scaled=0.5)]
    )
    posted = lrs.save_statements(batch)
    assert posted.success, posted.data
    ids = [s.id for s in posted.content]
    assert all(uuid.UUID(str(i)).version == 4 for i in ids)

    credentials = httpx.get(f"{server}/v1/credentials?learner_id=ana", headers=admin).json()
    assert [c["level"] for c in credentials["items"]] == ["social-media/foundations"]
    assert httpx.get(f"{server}/v1/credentials?learner_id=bo", headers=admin).json()["items"] == []

    # save, then read back (retrieve_statement: GET ?statementId=), as stored
    got = lrs.retrieve_statement(sid)
    assert got.success, got.data
    back = got.content
    assert str(back.id) == sid
    assert back.actor.account.name == "ana" and back.verb.id == PASSED
    assert back.object.id == POLICY and back.result.score.scaled == 0.9
    assert back.context.extensions == first.context.extensions
    assert back.timestamp == first.timestamp
    assert back.stored is not None and back.stored >= back.timestamp
    assert back.authority.account.name == prefix
    assert str(back.version) == "1.0.3"  # TinCanPython sets it; kept as sent (Data 2.4.10)
    assert got.response.getheader("X-Experience-API-Consistent-Through")

    # the list the client pages through: by agent, two per page, following more
    from tincan import Agent, AgentAccount

    ana = Agent(account=AgentAccount(home_page="https://lms.example.com", name="ana"))
    page = lrs.query_statements({"agent": ana, "limit": 1})
    assert page.success, page.data
    found = [str(s.id) for s in page.content.statements]
    while page.content.more:
        page = lrs.more_statements(page.content)
        assert page.success, page.data
        found += [str(s.id) for s in page.content.statements]
    assert sorted(found) == sorted([sid, str(ids[0])])
    unknown = lrs.retrieve_statement(str(uuid.uuid4()))
    assert not unknown.success and unknown.response.status == 404

    # the same statement again changes nothing; the same id with other content is refused
    again = lrs.save_statement(first)
    assert again.success and again.response.status == 204
    changed = lrs.save_statement(_statement(POLICY, "ana", scaled=0.7, sid=sid))
    assert not changed.success and changed.response.status == 409

    # a statement the client lets through but the spec forbids (scaled > 1) → 400
    bad = lrs.save_statement(_statement(POLICY, "cy", scaled=1.5))
    assert not bad.success and bad.response.status == 400
    assert bad.response.getheader("X-Experience-API-Version") == "1.0.3"

    # a wrong secret → 401
    wrong = RemoteLRS(
        endpoint=f"{server}/xapi/", version="1.0.3", username=prefix, password=secret[::-1]
    )
    denied = wrong.save_statement(_statement(POLICY, "ana", scaled=0.9))
    assert not denied.success and denied.response.status == 401

    # TinCanPython (xAPI 1.0.x) refuses an About that lists 2.0.0, so read it raw here
    about = httpx.get(
        f"{server}/xapi/about",
        headers={"X-Experience-API-Version": "1.0.3", "Authorization": lrs.auth},
    )
    assert "1.0.3" in about.json()["version"]


def test_multipart_attachments_over_http(server, make_key) -> None:  # type: ignore[no-untyped-def]
    """TinCanPython sends no attachments: a statement with a certificate, as multipart/mixed over
    real HTTP (httpx), read back with its data (the server keeps attachments)."""
    import hashlib
    import json

    certificate = b"%PDF-1.4 certificate \r\n--not-a-boundary\r\n\x00\xff"
    sha2 = hashlib.sha256(certificate).hexdigest()
    sid = str(uuid.uuid4())
    statement = {
        "id": sid,
        "actor": {"account": {"homePage": "https://lms.example.com", "name": "ana"}},
        "verb": {"id": PASSED},
        "object": {"id": POLICY},
        "attachments": [
            {
                "usageType": "http://adlnet.gov/expapi/attachments/certificate",
                "display": {"en-US": "Certificate"},
                "contentType": "application/pdf",
                "length": len(certificate),
                "sha2": sha2,
            }
        ],
    }
    boundary = "xapi-boundary-1"
    body = (
        (
            f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{json.dumps(statement)}\r\n"
            f"--{boundary}\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {sha2}\r\n\r\n"
        ).encode()
        + certificate
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "X-Experience-API-Version": "1.0.3",
        "Authorization": f"Bearer {make_key('completions:write', 'xapi:read')}",
    }
    posted = httpx.post(
        f"{server}/xapi/statements",
        content=body,
        headers={**headers, "Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == [sid]
    back = httpx.get(
        f"{server}/xapi/statements?statementId={sid}&attachments=true", headers=headers
    )
    assert back.status_code == 200
    assert back.headers["content-type"].startswith("multipart/mixed")
    assert certificate in back.content and f"X-Experience-API-Hash: {sha2}".encode() in back.content
