"""Concurrency against real servers (uvicorn processes, real HTTP): the same completion posted
50 times at once is stored once and issues at most one credential; 200 issuances spread over two
processes on one PostgreSQL never share a status-list index and leave the audit chain intact."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from credentials.audit import AuditRecord, verify_chain
from tests.conftest import REPO, status_entries

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(database) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {
        **os.environ,
        "CREDENCE_DATABASE_URL": database.url,
        "CREDENCE_BASE_URL": "https://credence.test",
        "CREDENCE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def servers(database, request, tmp_path) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """``count`` server processes (``python -m service.cli serve``) on the test database,
    migrated with ``python -m service.cli db upgrade``; started at the same moment."""
    count = getattr(request, "param", 1)
    env = _env(database)
    migrated = subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    ports = [_free_port() for _ in range(count)]
    logs = [(tmp_path / f"server-{port}.log").open("wb") for port in ports]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 120  # a loaded machine may start a server slowly
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, "server exited; see its log in " + str(tmp_path)
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "server did not become ready"
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
        for log in logs:
            log.close()


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def scalar(database, sql: str) -> int:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def apply_demo(url: str, headers: dict[str, str]) -> None:
    applied = httpx.put(
        f"{url}/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**headers, "Content-Type": "application/yaml"},
        timeout=30,
    )
    assert applied.status_code == 200, applied.text


def test_fifty_concurrent_posts_of_one_completion(servers, admin_headers, database) -> None:  # type: ignore[no-untyped-def]
    [url] = servers
    apply_demo(url, admin_headers)
    first = {"learner_id": "ada", "course_id": "policy-101", "completed_at": ago(3), "score": 90}
    assert httpx.post(f"{url}/v1/completions", json=first, headers=admin_headers).status_code == 201
    same = {**first, "course_id": "brand-voice-101", "external_id": "lms-42"}

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=url, headers=admin_headers, timeout=60) as client:
            return client.post("/v1/completions", json=same)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 200: 49}, [r.text for r in responses if r.status_code >= 300]
    bodies = {json.dumps(r.json(), sort_keys=True) for r in responses}
    assert len(bodies) == 1  # every replay is the original result
    assert scalar(database, "SELECT count(*) FROM completion WHERE external_id = 'lms-42'") == 1
    assert scalar(database, "SELECT count(*) FROM credential") == 1
    assert (
        scalar(database, "SELECT count(*) FROM audit_event WHERE action LIKE 'credential.%'") == 1
    )


def _claims(jwt: str) -> dict[str, Any]:
    segment = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


@pytest.mark.postgres
@pytest.mark.parametrize("servers", [2], indirect=True)
def test_two_hundred_issuances_across_two_processes(servers, admin_headers, database) -> None:  # type: ignore[no-untyped-def]
    if database.kind != "postgresql":
        pytest.skip("two server processes on one database: the PostgreSQL deployment")
    # Both processes started on an empty database at the same moment: one development key of
    # each algorithm (ES256 for the VC-JWTs, Ed25519 for Data Integrity proofs).
    assert scalar(database, "SELECT count(*) FROM signing_key WHERE state = 'active'") == 2
    assert scalar(database, "SELECT count(DISTINCT alg) FROM signing_key") == 2
    apply_demo(servers[0], admin_headers)
    learners = [f"learner-{n:03d}" for n in range(200)]
    setup = httpx.post(
        f"{servers[0]}/v1/completions/batch",
        json={
            "items": [
                {"learner_id": lid, "course_id": "policy-101", "completed_at": ago(5), "score": 95}
                for lid in learners
            ]
        },
        headers=admin_headers,
        timeout=120,
    )
    assert setup.json()["stored"] == 200

    clients = [httpx.Client(base_url=u, headers=admin_headers, timeout=120) for u in servers]

    def earn(n: int) -> httpx.Response:
        body = {"learner_id": learners[n], "course_id": "brand-voice-101", "completed_at": ago(1)}
        return clients[n % 2].post("/v1/completions", json=body)

    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            responses = list(pool.map(earn, range(200)))
        assert Counter(r.status_code for r in responses) == {201: 200}
        ids = [r.json()["issued"][0]["id"] for r in responses]
        assert len(set(ids)) == 200

        with database.engine.connect() as connection:
            duplicates = connection.execute(
                text(
                    "SELECT list_id, idx FROM status_slot GROUP BY list_id, idx HAVING count(*) > 1"
                )
            ).all()
        assert duplicates == []
        assert scalar(database, "SELECT count(*) FROM status_slot") == 400

        # What was signed agrees: 200 distinct revocation (list, index) pairs in the credentials
        # themselves (the suspension slots are not published by default).
        signed = Counter()
        for cid in ids:
            jwt = clients[0].get(f"/v1/credentials/{cid}", headers={"Accept": "application/vc+jwt"})
            for entry in status_entries(_claims(jwt.text)):
                signed[(entry["statusListCredential"], entry["statusListIndex"])] += 1
        assert len(signed) == 200 and max(signed.values()) == 1

        records, after = [], 0
        while True:
            page = clients[1].get("/v1/audit/events", params={"after": after, "limit": 200}).json()
            records += [AuditRecord.from_mapping(_canonical_at(e)) for e in page["items"]]
            if page["next_after"] is None:
                break
            after = page["next_after"]
        verdict = verify_chain(records)
        assert verdict.ok, verdict
        assert sum(1 for r in records if r.action == "credential.issued") == 200
    finally:
        for client in clients:
            client.close()


def _canonical_at(event: dict[str, Any]) -> dict[str, Any]:
    """The API's JSON datetime back in the chain's canonical form (microseconds, ``Z``)."""
    moment = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).astimezone(UTC)
    return {**event, "at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


@pytest.mark.parametrize("servers", [2], indirect=True)
def test_one_learners_prerequisites_at_once_across_two_processes(  # type: ignore[no-untyped-def]
    servers, admin_headers, database
) -> None:
    """Each learner's two Foundations courses posted at the same moment, one to each process:
    writers of different learners run alongside, but the two completions of one learner take
    turns, so the second sees the first and Foundations is issued, once, to every learner."""
    if database.kind != "postgresql":
        pytest.skip("two server processes on one database: the PostgreSQL deployment")
    apply_demo(servers[0], admin_headers)
    learners = [f"pair-{n:03d}" for n in range(60)]
    clients = [httpx.Client(base_url=u, headers=admin_headers, timeout=120) for u in servers]

    def post(job: tuple[int, int]) -> httpx.Response:
        n, which = job
        course, extra = (("policy-101", {"score": 90}), ("brand-voice-101", {}))[which]
        body = {"learner_id": learners[n], "course_id": course, "completed_at": ago(1), **extra}
        return clients[which].post("/v1/completions", json=body)

    try:
        jobs = [(n, which) for n in range(len(learners)) for which in (0, 1)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(post, jobs))
        assert Counter(r.status_code for r in responses) == {201: len(jobs)}
    finally:
        for client in clients:
            client.close()
    held = scalar(
        database,
        "SELECT count(*) FROM credential WHERE level_id = 'social-media/foundations'",
    )
    assert held == len(learners)  # none missed (each second writer saw the first), none twice
    assert (
        scalar(
            database,
            "SELECT count(*) FROM (SELECT learner_id FROM credential "
            "GROUP BY learner_id HAVING count(*) > 1) AS twice",
        )
        == 0
    )
