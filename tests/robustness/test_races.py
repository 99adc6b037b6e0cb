"""Check-then-act under real concurrency: a live server with two workers, many clients at once.

On PostgreSQL (READ COMMITTED) each of these once let several requests pass the same check and
all write: 30 manual awards made 24 live duplicates of one credential (revoking the one an admin
saw left the learner allowed), two edits with the same ``If-Match`` both succeeded, a credential
was revoked 20 times over (20 audit events, 20 webhooks). Every race must have one winner and
losers that get the documented answer (409 / 412) and write nothing. SQLite serialises writers
and runs the same tests as a control.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.db import make_engine
from tests.robustness.live import TWO_WORKERS_POOL, LiveServer, complete, served
from tests.webhooks.conftest import Receiver, payloads, receiver, subscribe

__all__ = ["receiver"]  # the fixture, used below

FOUNDATIONS = "social-media/foundations"
PAID = "run-paid-campaigns"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One served Credence per database for the module (the races use disjoint learners and
    objects); two workers, so racing requests also meet across processes."""
    tmp = tmp_path_factory.mktemp(f"races-{request.param}")
    env = {
        "CREDENCE_WEBHOOK_IN_SERVE": "true",
        "CREDENCE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "CREDENCE_WEBHOOK_POLL_INTERVAL": "0.2",
        **TWO_WORKERS_POOL,
    }
    with served(request.param, tmp, workers=2, env=env) as live:
        yield live


def _headers(server: LiveServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.key}"}


def _at_once(
    server: LiveServer, count: int, send: Callable[[httpx.AsyncClient, int], Awaitable[Any]]
) -> list[httpx.Response]:
    """``count`` requests released together (each on its own connection)."""

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with httpx.AsyncClient(
            base_url=server.url, headers=_headers(server), timeout=120, limits=limits
        ) as client:
            gate = asyncio.Event()

            async def one(i: int) -> httpx.Response:
                await gate.wait()
                response: httpx.Response = await send(client, i)
                return response

            tasks = [asyncio.create_task(one(i)) for i in range(count)]
            await asyncio.sleep(0.05)
            gate.set()
            return list(await asyncio.gather(*tasks))

    return asyncio.run(run())


def _statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(r.status_code for r in responses)


def _sql(server: LiveServer, query: str, **params: Any) -> list[Any]:
    engine = make_engine(server.env["CREDENCE_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query), params))
    finally:
        engine.dispose()


def _live_credentials(server: LiveServer, learner: str, level: str = FOUNDATIONS) -> int:
    rows = _sql(
        server,
        "SELECT count(*) FROM credential WHERE learner_id = :learner AND level_id = :level "
        "AND superseded_by IS NULL AND status <> 'revoked'",
        learner=learner,
        level=level,
    )
    return int(rows[0][0])


def _award(learner: str) -> Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]:
    body = {"learner_id": learner, "level": FOUNDATIONS, "reason": "race"}
    return lambda client, _: client.post("/v1/credentials", json=body)


def _make_learners(server: LiveServer, *ids: str) -> None:
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        for learner in ids:
            assert client.put(f"/v1/learners/{learner}", json={}).status_code in (200, 201)


@pytest.mark.slow
def test_many_manual_awards_at_once_make_one_credential(server: LiveServer) -> None:
    for round_ in range(3):
        learner = f"m{round_}"
        _make_learners(server, learner)
        responses = _at_once(server, 50, _award(learner))
        assert _statuses(responses) == {201: 1, 409: 49}, _statuses(responses)
        assert _live_credentials(server, learner) == 1
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.headers["content-type"] == "application/problem+json"
        assert "already holds" in loser.json()["detail"]


@pytest.mark.slow
def test_two_manual_awards_never_both_succeed(server: LiveServer) -> None:
    learners = [f"p{i}" for i in range(20)]
    _make_learners(server, *learners)
    for learner in learners:
        responses = _at_once(server, 2, _award(learner))
        assert _statuses(responses) == {201: 1, 409: 1}, (learner, _statuses(responses))
        assert _live_credentials(server, learner) == 1


@pytest.mark.slow
def test_revoking_what_the_admin_sees_after_concurrent_awards_denies(server: LiveServer) -> None:
    _make_learners(server, "r1")
    responses = _at_once(server, 30, _award("r1"))
    winner = next(r for r in responses if r.status_code == 201).json()
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        listed = client.get("/v1/credentials", params={"learner_id": "r1"}).json()["items"]
        assert [c["id"] for c in listed] == [winner["id"]]
        check = {"learner_id": "r1", "program": "post-on-brand-accounts"}
        assert client.get("/v1/permissions/check", params=check).json()["allowed"] is True
        revoked = client.post(f"/v1/credentials/{winner['id']}/revoke", json={"reason": "x"})
        assert revoked.status_code == 200
        assert client.get("/v1/permissions/check", params=check).json()["allowed"] is False


@pytest.mark.slow
def test_concurrent_evaluations_issue_each_learner_once(server: LiveServer) -> None:
    learners = [f"e{i}" for i in range(10)]
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        for learner in learners:
            complete(client, learner, "disclosure-101")
        # a level that everyone above already qualifies for, defined after the fact
        track = {"id": "race", "name": "Race", "levels": []}
        assert client.post("/v1/tracks", json=track).status_code == 201
        level = {
            "id": "r1",
            "name": "R1",
            "rank": 1,
            "requires": {"courses": [{"course": "disclosure-101"}]},
        }
        assert client.post("/v1/tracks/race/levels", json=level).status_code == 201
    responses = _at_once(server, 30, lambda c, _: c.post("/v1/levels/race/r1/evaluate"))
    assert _statuses(responses) == {200: 30}, [r.text for r in responses if r.status_code != 200]
    assert sum(r.json()["credentials_issued"] for r in responses) == 10
    per_learner = _sql(
        server,
        "SELECT learner_id, count(*) FROM credential WHERE level_id = 'race/r1' GROUP BY 1",
    )
    assert sorted(per_learner) == sorted((learner, 1) for learner in learners)


@pytest.mark.slow
def test_two_edits_with_the_same_if_match_one_wins(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        for trial in range(20):
            course = f"race-{trial}"
            created = client.post("/v1/courses", json={"id": course, "name": "v1"})
            assert created.status_code == 201
            etag = created.headers["etag"]

            def edit(
                client: httpx.AsyncClient, i: int, course: str = course, etag: str = etag
            ) -> Awaitable[httpx.Response]:
                body = {"id": course, "name": f"edit {i}"}
                return client.put(f"/v1/courses/{course}", json=body, headers={"If-Match": etag})

            responses = _at_once(server, 2, edit)
            assert _statuses(responses) == {200: 1, 412: 1}, (trial, _statuses(responses))
            winner = next(r for r in responses if r.status_code == 200).json()
            assert client.get(f"/v1/courses/{course}").json()["name"] == winner["name"]


@pytest.mark.slow
def test_many_revocations_at_once_revoke_once_and_send_one_webhook(
    server: LiveServer, receiver: Receiver
) -> None:
    _make_learners(server, "v1", "v2")
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        subscribe(client, _headers(server), receiver, events=["credential.revoked"])
        target = client.post(
            "/v1/credentials", json={"learner_id": "v1", "level": FOUNDATIONS, "reason": "x"}
        ).json()["id"]
        sentinel = client.post(
            "/v1/credentials", json={"learner_id": "v2", "level": FOUNDATIONS, "reason": "x"}
        ).json()["id"]
    responses = _at_once(
        server,
        50,
        lambda c, i: c.post(f"/v1/credentials/{target}/revoke", json={"reason": f"r{i}"}),
    )
    assert _statuses(responses) == {200: 1, 409: 49}, _statuses(responses)
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        # revoked after the storm: once its webhook has arrived, the storm's have too
        assert client.post(f"/v1/credentials/{sentinel}/revoke").status_code == 200
    assert receiver.wait_for(2, timeout=60), server.log.read_text()[-2000:]
    revoked = Counter(p["data"]["credential"] for p in payloads(receiver))
    assert revoked == {target: 1, sentinel: 1}
    events = _sql(
        server,
        "SELECT count(*) FROM credential_status_event WHERE credential_id = :id",
        id=target,
    )
    assert events[0][0] == 2  # issued (active), revoked
    audit = _sql(
        server,
        "SELECT count(*) FROM audit_event WHERE subject = :subject",
        subject=f"credential:{target}",
    )
    assert audit[0][0] == 2  # credential.issued, credential.revoked


@pytest.mark.slow
def test_many_api_client_revocations_at_once_revoke_once(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        made = client.post("/v1/api-clients", json={"name": "doomed", "scopes": ["reports:read"]})
        assert made.status_code == 201
        prefix = made.json()["prefix"]
    responses = _at_once(server, 30, lambda c, _: c.delete(f"/v1/api-clients/{prefix}"))
    assert _statuses(responses) == {200: 1, 409: 29}, _statuses(responses)
    audit = _sql(
        server,
        "SELECT count(*) FROM audit_event WHERE action = 'api_client.revoked' AND subject = :s",
        s=f"api-client:{prefix}",
    )
    assert audit[0][0] == 1


@pytest.mark.slow
def test_many_key_compromises_at_once_mark_once(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        kid = client.get("/.well-known/jwks.json").json()["keys"][0]["kid"].rsplit("/", 1)[1]
    responses = _at_once(
        server, 20, lambda c, _: c.post(f"/v1/keys/{kid}/compromise", json={"rotate": True})
    )
    assert _statuses(responses) == {200: 1, 409: 19}, _statuses(responses)
    active = _sql(
        server, "SELECT alg, count(*) FROM signing_key WHERE state = 'active' GROUP BY alg"
    )
    assert sorted(n for _, n in active) == [1, 1]  # one successor, not one per request
    audit = _sql(server, "SELECT count(*) FROM audit_event WHERE action = 'key.compromised'")
    assert audit[0][0] == 1


@pytest.mark.slow
def test_many_webhook_deletions_at_once_delete_once(server: LiveServer, receiver: Receiver) -> None:
    with httpx.Client(base_url=server.url, headers=_headers(server), timeout=30) as client:
        webhook = subscribe(client, _headers(server), receiver)["id"]
    responses = _at_once(server, 20, lambda c, _: c.delete(f"/v1/webhooks/{webhook}"))
    assert _statuses(responses) == {204: 1, 404: 19}, _statuses(responses)
    audit = _sql(server, "SELECT count(*) FROM audit_event WHERE action = 'webhook.deleted'")
    assert audit[0][0] == 1
