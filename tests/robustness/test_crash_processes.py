"""Issue 19: no audit event is lost, duplicated or reordered under concurrent writers on two
server processes sharing one database, while each process is SIGKILLed at random moments.

Clients post single completions (some of which issue Foundations), learner upserts and
revocations of what was just issued (a writer that excludes every other) to either process,
retrying on connection errors. Meanwhile a tailer reads the audit table the way a relay would,
``seq > cursor``: it must never see a seq while a lower one is not yet visible (seq order not
being commit order), which a relay would skip for good.
"""

from __future__ import annotations

import itertools
import json
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from credentials.audit import GENESIS_HASH, AuditRecord
from service.db import make_engine
from tests.robustness.live import prepare, start
from tests.robustness.test_crash import _check_consistent, _state

CLIENTS = 8
KILLS = 4  # alternating between the two processes
BLOCK = 8  # learners whose tasks are shuffled together, so a learner's writes run side by side
MAX_LEARNERS = 3000  # a bound if the kills never end
GIVE_UP = 120  # seconds a write may go unanswered
FOUNDATIONS = "social-media/foundations"


@dataclass(frozen=True)
class Task:
    method: str
    path: str
    body: dict[str, Any]
    learner: int


@dataclass
class Ledger:
    """What the clients were told, shared by all of them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    completions: set[str] = field(default_factory=set)  # external ids acknowledged
    issued: set[str] = field(default_factory=set)  # credential ids reported issued
    revoked: set[str] = field(default_factory=set)  # credential ids acknowledged revoked
    upserted: set[str] = field(default_factory=set)  # learner ids acknowledged
    interrupted: int = 0  # attempts that got no answer (a process killed or down)
    failures: list[str] = field(default_factory=list)  # answers no writer should give


class Cluster:
    """The two processes; a client picks one per attempt and follows restarts (a restarted
    process keeps its port)."""

    def __init__(self, env: dict[str, str], key: str, tmp: Path) -> None:
        self.env, self.key, self.tmp = env, key, tmp
        self.servers = [start(env, key, tmp), start(env, key, tmp)]
        self.restarts: list[threading.Thread | None] = [None, None]
        self.errors: list[BaseException] = []

    def url(self, index: int) -> str:
        return self.servers[index % len(self.servers)].url

    def kill(self, index: int) -> None:
        """SIGKILL one process, once both are up (so writes always have somewhere to go), and
        start it again in the background on the same port."""
        self.wait_up(0)
        self.wait_up(1)
        victim = self.servers[index]
        victim.stop(signal.SIGKILL)
        port = int(victim.url.rsplit(":", 1)[1])
        restart = threading.Thread(target=self._restart, args=(index, port))
        self.restarts[index] = restart
        restart.start()

    def _restart(self, index: int, port: int) -> None:
        try:
            self.servers[index] = start(self.env, self.key, self.tmp, port=port)
        except BaseException as exc:  # re-raised by wait_up
            self.errors.append(exc)

    def wait_up(self, index: int) -> None:
        restart = self.restarts[index]
        if restart is not None:
            restart.join(timeout=180)
            assert not restart.is_alive(), "a killed process did not come back"
        if self.errors:
            raise self.errors[0]

    def stop(self) -> None:
        for index in range(len(self.servers)):
            self.wait_up(index)
            self.servers[index].stop()


def _tasks(stop: threading.Event) -> Iterator[Task]:
    """Learners' writes, block by block, until ``stop``: both Foundations courses (every third
    learner fails policy-101), an upsert for every third learner."""
    rng = random.Random(19)
    for first in range(0, MAX_LEARNERS, BLOCK):
        if stop.is_set():
            return
        block: list[Task] = []
        for n in range(first, first + BLOCK):
            learner = f"proc-{n:04d}"
            for course, score in (("policy-101", 90 if n % 3 else 70), ("brand-voice-101", None)):
                body = {
                    "learner_id": learner,
                    "course_id": course,
                    "completed_at": "2026-10-01T09:00:00Z",
                    "score": score,
                    "external_id": f"{learner}:{course}",
                }
                block.append(Task("POST", "/v1/completions", body, n))
            if n % 3 == 1:
                attributes = {"region": "EU", "team": f"t{n % 7}"}
                block.append(Task("PUT", f"/v1/learners/{learner}", {"attributes": attributes}, n))
        rng.shuffle(block)
        yield from block


def _send(
    http: httpx.Client, cluster: Cluster, ledger: Ledger, first: int, task: Task
) -> tuple[httpx.Response, bool]:
    """The answer to ``task``, trying the processes in turn from ``first`` until one answers;
    and whether an earlier attempt went unanswered (it may have been committed)."""
    deadline = time.monotonic() + GIVE_UP
    for attempt in itertools.count():
        assert time.monotonic() < deadline, f"no answer to {task.method} {task.path}"
        try:
            url = cluster.url(first + attempt) + task.path
            response = http.request(task.method, url, json=task.body)
        except httpx.HTTPError:
            with ledger.lock:
                ledger.interrupted += 1
            time.sleep(0.1)
            continue
        if response.status_code >= 500:  # no writer should fail: recorded, then retried
            with ledger.lock:
                ledger.failures.append(f"{task.method} {task.path}: {response.text[:300]}")
            time.sleep(0.1)
            continue
        return response, attempt > 0
    raise AssertionError("unreachable")


def _client(
    cluster: Cluster, ledger: Ledger, number: int, tasks: Iterator[Task], take: threading.Lock
) -> None:
    headers = {"Authorization": f"Bearer {cluster.key}"}
    with httpx.Client(headers=headers, timeout=60) as http:
        while True:
            with take:
                task = next(tasks, None)
            if task is None:
                return
            try:
                _do(http, cluster, ledger, number, task)
            except Exception as exc:  # a client that stops must fail the test
                with ledger.lock:
                    ledger.failures.append(f"{task.method} {task.path}: {exc!r}")
                return


def _do(http: httpx.Client, cluster: Cluster, ledger: Ledger, number: int, task: Task) -> None:
    """One task to its answer, noted in ``ledger``; a fresh Foundations credential of every
    fourth learner is revoked at once."""
    response, _ = _send(http, cluster, ledger, number, task)
    if response.status_code not in (200, 201):
        with ledger.lock:
            ledger.failures.append(f"{task.method} {task.path}: {response.text[:300]}")
        return
    if task.method == "PUT":
        with ledger.lock:
            ledger.upserted.add(task.path.rsplit("/", 1)[1])
        return
    issued = [c["id"] for c in response.json()["issued"] if c["level"] == FOUNDATIONS]
    with ledger.lock:
        ledger.completions.add(str(task.body["external_id"]))
        ledger.issued.update(issued)
    if task.learner % 4 == 0:
        for credential_id in issued:  # a writer that excludes all others, mid-stream
            _revoke(http, cluster, ledger, number, credential_id)


def _revoke(
    http: httpx.Client, cluster: Cluster, ledger: Ledger, number: int, credential_id: str
) -> None:
    body = {"reason": "issue 19"}
    task = Task("POST", f"/v1/credentials/{credential_id}/revoke", body, -1)
    response, retried = _send(http, cluster, ledger, number, task)
    # a 409 "revoked" after an unanswered attempt: that attempt was committed
    done = response.status_code == 200 or (
        retried
        and response.status_code == 409
        and response.json().get("current_status") == "revoked"
    )
    with ledger.lock:
        if done:
            ledger.revoked.add(credential_id)
        else:
            ledger.failures.append(f"revoke {credential_id}: {response.text[:300]}")


class Tailer(threading.Thread):
    """Follows the audit table as a relay would (``seq > cursor``, its own connection, short
    read transactions), noting each seq seen while a lower one was not yet visible (``gaps``)
    and each event whose ``prev_hash`` is not the hash of the one before (``unlinked``)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(name="audit-tailer", daemon=True)
        self.database_url = database_url
        self.done = threading.Event()
        self.seen: list[tuple[int, str]] = []
        self.seen_live = 0  # seen before the writers stopped
        self.gaps: list[str] = []
        self.unlinked: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        engine = make_engine(self.database_url)
        try:
            while not self.done.is_set():
                self._poll(engine)
                time.sleep(0.005)
            self.seen_live = len(self.seen)
            self._poll(engine)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            engine.dispose()

    def _poll(self, engine: Engine) -> None:
        while True:
            cursor, last_hash = self.seen[-1] if self.seen else (0, GENESIS_HASH)
            with engine.connect().execution_options(sqlite_readonly=True) as connection:
                rows = connection.execute(
                    text(
                        "SELECT seq, hash, prev_hash FROM audit_event "
                        "WHERE seq > :cursor ORDER BY seq LIMIT 500"
                    ),
                    {"cursor": cursor},
                ).all()
            for seq, digest, prev_hash in rows:
                if seq != cursor + 1:
                    self.gaps.append(f"saw seq {seq} while seq {cursor + 1} was not visible")
                elif prev_hash != last_hash:
                    self.unlinked.append(f"seq {seq} does not link to seq {cursor}")
                self.seen.append((seq, digest))  # a relay moves on: what it skipped is lost
                cursor, last_hash = seq, digest
            if len(rows) < 500:
                return


@pytest.mark.slow
def test_two_processes_killed_mid_write_lose_duplicate_and_reorder_no_event(
    live_db: str, tmp_path: Path
) -> None:
    env, key = prepare(live_db, tmp_path)
    cluster = Cluster(env, key, tmp_path)
    ledger = Ledger()
    stop = threading.Event()
    tasks, take = _tasks(stop), threading.Lock()
    tailer = Tailer(live_db)
    tailer.start()
    clients = [
        threading.Thread(target=_client, args=(cluster, ledger, n, tasks, take), daemon=True)
        for n in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    rng = random.Random(23)
    kills = 0
    try:
        for round_ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            assert all(c.is_alive() for c in clients), f"a client stopped: {ledger.failures[:3]}"
            cluster.kill(round_ % 2)
            kills += 1
        cluster.wait_up(0)
        cluster.wait_up(1)
        time.sleep(1.0)  # both processes back: writes go on through both
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=300)
        try:
            cluster.stop()
        finally:
            tailer.done.set()
            tailer.join(timeout=60)
    assert not any(c.is_alive() for c in clients) and not tailer.is_alive()
    assert kills == KILLS
    assert ledger.interrupted > 0, "no request was cut off by a kill"
    assert tailer.error is None, repr(tailer.error)
    assert not tailer.gaps, f"seq order is not commit order: {tailer.gaps[:5]}"
    assert not tailer.unlinked, f"the chain broke as it was written: {tailer.unlinked[:5]}"
    assert not ledger.failures, f"a write failed: {ledger.failures[:5]}"

    state = _state(live_db)
    events: list[AuditRecord] = state["events"]  # type: ignore[assignment]
    assert [e.seq for e in events] == list(range(1, len(events) + 1)), "the chain has a gap"
    assert tailer.seen == [(e.seq, e.hash) for e in events], "an event was rewritten or reordered"
    assert tailer.seen_live > len(events) // 2, "the tailer did not follow the writes"
    _check_consistent(state)  # each passing learner holds Foundations once; verify_chain(...).ok
    _check_each_write_once(live_db, state, events, ledger)


def _check_each_write_once(
    database_url: str, state: dict[str, object], events: list[AuditRecord], ledger: Ledger
) -> None:
    """Every acknowledged write is stored, with exactly one event; nothing else is."""
    per_action: dict[str, Counter[str]] = {}
    for event in events:
        recorded = event.action == "completion.recorded"
        subject = str(event.data["external_id"] if recorded else event.subject)
        per_action.setdefault(event.action, Counter())[subject] += 1
    for action, counts in per_action.items():
        twice = [subject for subject, n in counts.items() if n > 1]
        assert not twice, f"{action} recorded twice for {twice[:5]}"

    stored: set[str] = state["completions"]  # type: ignore[assignment]
    assert ledger.completions <= stored, "an acknowledged completion was lost"
    assert set(per_action["completion.recorded"]) == stored, "a completion without its event"

    credentials = {c[0]: c for c in state["credentials"]}  # type: ignore[attr-defined]
    assert ledger.issued <= set(credentials), "an acknowledged credential was lost"
    assert "credential.renewed" not in per_action
    revoked_events = {s.removeprefix("credential:") for s in per_action["credential.revoked"]}
    revoked_rows = {i for i, c in credentials.items() if c[4] == "revoked"}
    assert ledger.revoked == revoked_events == revoked_rows, "a revocation lost or unasked for"

    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, attributes FROM learner")).all()
    learners: dict[str, Any] = {str(row[0]): row[1] for row in rows}
    engine.dispose()
    assert set(per_action["learner.created"]) == {f"learner:{i}" for i in learners}
    for learner in ledger.upserted:
        attributes = learners[learner]
        attributes = json.loads(attributes) if isinstance(attributes, str) else attributes
        assert attributes.get("region") == "EU", f"an acknowledged upsert of {learner} was lost"
