"""The audit chain: one writer function, no forks under concurrency, edits detected."""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlmodel import Session

from credentials.audit import verify_chain
from service.audit.service import iter_records, record

WRITERS = 8
EVENTS_EACH = 25


def _chain(engine):  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return list(iter_records(session))


def test_concurrent_writers_do_not_fork_the_chain(database) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for i in range(EVENTS_EACH):
                with Session(database.engine) as session:
                    record(
                        session,
                        actor=f"writer:{n}",
                        action="test.event",
                        subject=f"thing:{n}",
                        data={"i": i},
                    )
                    session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    chain = _chain(database.engine)
    assert [r.seq for r in chain] == list(range(1, WRITERS * EVENTS_EACH + 1))
    result = verify_chain(chain)
    assert result.ok, result.problems
    assert result.count == WRITERS * EVENTS_EACH
    assert len({r.hash for r in chain}) == len(chain)


def test_an_edited_event_breaks_verification(database) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        for i in range(5):
            record(session, actor="t", action="test.event", subject="x", data={"i": i})
        session.commit()
    assert verify_chain(_chain(database.engine)).ok
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3"))
    result = verify_chain(_chain(database.engine))
    assert not result.ok
    assert result.first_bad_seq == 3


def test_a_rolled_back_change_leaves_no_audit_event(database) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        record(session, actor="t", action="test.event", subject="x")
        session.rollback()
    assert _chain(database.engine) == []


def test_api_client_changes_are_audited_with_actor(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    created = client.post(
        "/v1/api-clients", json={"name": "lms", "scopes": ["catalog:read"]}, headers=admin_headers
    ).json()
    client.delete(f"/v1/api-clients/{created['prefix']}", headers=admin_headers)
    events = client.get("/v1/audit/events", headers=admin_headers).json()["items"]
    actions = [(e["action"], e["subject"]) for e in events]
    assert ("api_client.created", f"api-client:{created['prefix']}") in actions
    assert ("api_client.revoked", f"api-client:{created['prefix']}") in actions
    admin_prefix = admin_headers["Authorization"].split("_")[1]
    assert events[-1]["actor"] == f"api-client:{admin_prefix}"
    assert created["key"] not in str(events)


def test_audit_events_page_with_a_cursor(client, admin_headers, database) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        for i in range(7):
            record(session, actor="t", action="test.event", subject="x", data={"i": i})
        session.commit()
    seen, after = [], 0
    while True:
        page = client.get(f"/v1/audit/events?after={after}&limit=3", headers=admin_headers).json()
        seen += [e["seq"] for e in page["items"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    everything = client.get("/v1/audit/events?limit=500", headers=admin_headers).json()["items"]
    assert seen == [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    assert len(seen) >= 8  # the admin key, the 7 above (and the development signing key)
