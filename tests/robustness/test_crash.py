"""Crash safety: a real server is SIGKILLed at random points while batches of completions
(that cause issuance) stream in. Whatever was acknowledged survives; nothing is half-written;
re-sending everything converges to the same state."""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from credentials.audit import verify_chain
from service.audit.service import iter_records
from service.db import make_engine
from tests.robustness.live import LiveServer, prepare, start

LEARNERS = 1000  # batches are fast: the stream must outlast the first kill (0.3-1.5 s)
KILLS = 3


def _items() -> list[dict[str, object]]:
    items = []
    for n in range(LEARNERS):
        learner = f"crash-{n:04d}"
        for course, score in (("policy-101", 90 if n % 3 else 70), ("brand-voice-101", None)):
            items.append(
                {
                    "learner_id": learner,
                    "course_id": course,
                    "completed_at": "2026-10-01T09:00:00Z",
                    "score": score,
                    "external_id": f"{learner}:{course}",
                }
            )
    random.Random(7).shuffle(items)
    return items


def _batches(items: list[dict[str, object]], size: int = 20) -> Iterator[list[dict[str, object]]]:
    for start_at in range(0, len(items), size):
        yield items[start_at : start_at + size]


def _send_all(
    server_box: list[LiveServer], items: list[dict[str, object]], acked: set[str]
) -> None:
    """Post every batch until it is acknowledged, following the server across restarts."""
    for batch in _batches(items):
        while True:
            server = server_box[0]
            try:
                response = httpx.post(
                    f"{server.url}/v1/completions/batch",
                    json={"items": batch},
                    headers={"Authorization": f"Bearer {server.key}"},
                    timeout=30,
                )
            except httpx.HTTPError:
                time.sleep(0.3)  # the server is down or being restarted
                continue
            if response.status_code >= 500:
                time.sleep(0.3)
                continue
            assert response.status_code == 200, response.text
            for result in response.json()["items"]:
                assert result["status"] in (200, 201), result
                acked.add(str(batch[result["index"]]["external_id"]))
            break


def _state(database_url: str) -> dict[str, object]:
    engine = make_engine(database_url)
    with engine.connect() as c:
        completions = {r[0] for r in c.execute(text("SELECT external_id FROM completion"))}
        credentials = c.execute(
            text("SELECT id, learner_id, level_id, superseded_by, status FROM credential")
        ).all()
        slots = c.execute(
            text("SELECT credential_id, purpose, list_id, idx FROM status_slot")
        ).all()
        issued_events = {
            r[0]
            for r in c.execute(
                text("SELECT subject FROM audit_event WHERE action = 'credential.issued'")
            )
        }
        passing = {
            r[0]
            for r in c.execute(
                text(
                    "SELECT learner_id FROM completion "
                    "WHERE course_id = 'policy-101' AND score >= 80"
                )
            )
        } & {
            r[0]
            for r in c.execute(
                text("SELECT learner_id FROM completion WHERE course_id = 'brand-voice-101'")
            )
        }
    with Session(engine) as session:
        events = list(iter_records(session))
    engine.dispose()
    return {
        "completions": completions,
        "credentials": credentials,
        "slots": slots,
        "issued_events": issued_events,
        "events": events,
        "passing": passing,
    }


@pytest.mark.slow
def test_sigkill_mid_stream_loses_nothing_acknowledged(live_db: str, tmp_path: Path) -> None:
    env, key = prepare(live_db, tmp_path)
    items = _items()
    acked: set[str] = set()
    box = [start(env, key, tmp_path)]
    sender = threading.Thread(target=_send_all, args=(box, items, acked))
    sender.start()
    rng = random.Random(11)
    kills = 0
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.3, 1.5))
        if not sender.is_alive():
            break
        box[0].stop(signal.SIGKILL)
        kills += 1
        box[0] = start(env, key, tmp_path)
    sender.join(timeout=600)
    assert not sender.is_alive()
    box[0].stop()
    assert kills >= 1, "the stream finished before any kill: make it longer"

    state = _state(live_db)
    assert acked <= state["completions"], "an acknowledged completion was lost"
    _check_consistent(state)

    # Re-send everything: idempotent, and it converges (a second re-send changes nothing).
    box[0] = start(env, key, tmp_path)
    _send_all(box, items, set())
    first = _state(live_db)
    _send_all(box, items, set())
    box[0].stop()
    second = _state(live_db)
    assert first["completions"] == second["completions"] == {i["external_id"] for i in items}
    assert sorted(first["credentials"]) == sorted(second["credentials"])
    assert len(first["events"]) == len(second["events"])
    _check_consistent(second)


def _check_consistent(state: dict[str, object]) -> None:
    credentials = state["credentials"]
    foundations = [c for c in credentials if c[2] == "social-media/foundations"]  # type: ignore[attr-defined]
    holders = [c[1] for c in foundations if c[3] is None]
    assert len(holders) == len(set(holders)), "a learner got two current credentials"
    assert set(holders) == state["passing"], (
        "a satisfied level lacks its credential (or vice versa)"
    )
    slots = state["slots"]
    by_credential: dict[str, set[str]] = {}
    for credential_id, purpose, _list_id, _idx in slots:  # type: ignore[attr-defined]
        by_credential.setdefault(credential_id, set()).add(purpose)
    for c in credentials:  # type: ignore[attr-defined]
        assert by_credential.get(c[0]) == {"revocation", "suspension"}, c[0]
        assert f"credential:{c[0]}" in state["issued_events"], c[0]
    positions = [(s[2], s[3]) for s in slots]  # type: ignore[attr-defined]
    assert len(positions) == len(set(positions)), "two credentials share a status-list index"
    assert verify_chain(state["events"]).ok  # type: ignore[arg-type]
