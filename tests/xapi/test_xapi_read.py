"""GET /xapi/statements: a statement reads back as stored (xAPI 1.0.3 Data 2.4.8-2.4.10), voided
statements only by voidedStatementId, and the minimal list with its filters and ``more``."""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import text

from tests.xapi.conftest import BRAND, COMPLETED, PASSED, POLICY, VERSION, statement

STORED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONSISTENT = "x-experience-api-consistent-through"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def get(client, headers, **params: str):  # type: ignore[no-untyped-def]
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return client.get(f"/xapi/statements?{query}", headers=headers)


def test_a_saved_statement_reads_back_as_stored(  # type: ignore[no-untyped-def]
    client, demo_catalog, lms_headers, lms_key
) -> None:
    sent = statement(context={"registration": str(uuid.uuid4())})
    posted = client.post("/xapi/statements", json=sent, headers=lms_headers)
    assert posted.status_code == 200, posted.text
    response = get(client, lms_headers, statementId=sent["id"].upper())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    stored, authority, version = body.pop("stored"), body.pop("authority"), body.pop("version")
    assert body == sent  # everything the client sent, as sent
    assert version == "1.0.0"
    assert authority == {
        "objectType": "Agent",
        "name": "lms",
        "account": {"homePage": "https://credence.test", "name": lms_key.split("_")[1]},
    }
    assert STORED.match(stored)
    assert response.headers["last-modified"] == format_datetime(_at(stored), usegmt=True)
    assert _at(posted.headers[CONSISTENT]) == _at(stored)
    assert _at(response.headers[CONSISTENT]) >= _at(stored)


def test_stored_authority_id_version_and_timestamp_are_set_by_credence(  # type: ignore[no-untyped-def]
    client, lms_headers
) -> None:
    forwarded = statement(
        sid=None,
        timestamp=None,
        stored="2020-01-01T00:00:00Z",
        authority={"objectType": "Agent", "mbox": "mailto:other-lrs@example.com"},
    )
    [sid] = client.post("/xapi/statements", json=forwarded, headers=lms_headers).json()
    body = get(client, lms_headers, statementId=sid).json()
    assert body["id"] == sid
    assert body["stored"] != "2020-01-01T00:00:00Z" and STORED.match(body["stored"])
    assert body["timestamp"] == body["stored"]  # none sent: the stored time
    assert body["authority"]["account"]["homePage"] == "https://credence.test"
    assert body["version"] == "1.0.0"

    two = {**lms_headers, "X-Experience-API-Version": "2.0.0"}
    [sid2] = client.post("/xapi/statements", json=statement(sid=None), headers=two).json()
    assert get(client, two, statementId=sid2).json()["version"] == "2.0.0"
    kept = statement(version="1.0.0")
    client.post("/xapi/statements", json=kept, headers=two)
    assert get(client, two, statementId=kept["id"]).json()["version"] == "1.0.0"


def test_unknown_and_unreadable_statements_are_404(client, lms_headers, database) -> None:  # type: ignore[no-untyped-def]
    missing = get(client, lms_headers, statementId=str(uuid.uuid4()))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"].endswith("/xapi-statement-not-found")
    # a statement accepted before statements were kept: its outcome is known, not its content
    old = str(uuid.uuid4())
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO xapi_statement (id, content_hash, source, verb_id, activity_id, "
                "outcome, received_at) VALUES (:id, :hash, 'lrs', :verb, :act, 'ignored', :at)"
            ),
            {"id": old, "hash": "0" * 64, "verb": PASSED, "act": POLICY, "at": datetime.now()},
        )
    response = get(client, lms_headers, statementId=old)
    assert response.status_code == 404
    assert "accepted before Credence kept statements" in response.json()["detail"]
    listed = get(client, lms_headers).json()
    assert listed == {"statements": [], "more": ""}


def test_a_voided_statement_is_found_only_by_voided_statement_id(  # type: ignore[no-untyped-def]
    client, lms_headers
) -> None:
    target = statement()
    voiding = statement(verb=VOIDED, object={"objectType": "StatementRef", "id": target["id"]})
    for body in (target, voiding):
        assert client.post("/xapi/statements", json=body, headers=lms_headers).status_code == 200
    assert get(client, lms_headers, statementId=target["id"]).status_code == 404
    found = get(client, lms_headers, voidedStatementId=target["id"])
    assert found.status_code == 200 and found.json()["id"] == target["id"]
    # the voiding statement is an ordinary statement (and cannot itself be voided)
    assert get(client, lms_headers, statementId=voiding["id"]).status_code == 200
    assert get(client, lms_headers, voidedStatementId=voiding["id"]).status_code == 404
    listed = [s["id"] for s in get(client, lms_headers).json()["statements"]]
    assert listed == [voiding["id"]]


def test_queries_the_resource_does_not_take_are_400(client, lms_headers) -> None:  # type: ignore[no-untyped-def]
    sid = str(uuid.uuid4())
    agent = json.dumps({"account": {"homePage": "https://lms.example.com", "name": "ana"}})
    bad: list[tuple[dict[str, str], str]] = [
        ({"statementId": sid, "voidedStatementId": sid}, "statementId"),
        ({"statementId": sid, "verb": PASSED}, "verb"),
        ({"statementId": "not-a-uuid"}, "statementId"),
        ({"statementid": sid}, "statementid"),  # names are case-sensitive (Communication 3.2)
        ({"favourite": "x"}, "favourite"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "²"}, "limit"),  # a digit to str.isdigit, not to int()
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),  # year 0 in UTC: an OverflowError
        ({"until": "9999-12-31T23:59:59-14:00"}, "until"),  # year 10000 in UTC
        ({"agent": "not json"}, "agent"),
        ({"agent": json.dumps({"name": "Ana"})}, "agent"),
        (
            {"agent": json.dumps({"objectType": "Group", "member": [{"mbox": "mailto:a@b.co"}]})},
            "agent",
        ),
        ({"agent": json.dumps({"mbox": "mailto:a@b.co", "favourite": 1})}, "agent"),
        ({"verb": "passed"}, "verb"),
        ({"activity": "policy 101"}, "activity"),
        ({"registration": sid}, "registration"),
        ({"related_agents": "true", "agent": agent}, "related_agents"),
        ({"ascending": "yes"}, "ascending"),
        ({"format": "full"}, "format"),
        ({"attachments": "1"}, "attachments"),
        ({"cursor": "junk!"}, "cursor"),
    ]
    for params, field in bad:
        response = get(client, lms_headers, **params)
        assert response.status_code == 400, (params, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem.get("field") == field or field == "cursor", (params, problem)
    twice = client.get(f"/xapi/statements?verb={PASSED}&verb={COMPLETED}", headers=lms_headers)
    assert twice.status_code == 400
    fine = get(client, lms_headers, related_agents="false", related_activities="false")
    assert fine.status_code == 200


def _post_each(client, headers, *bodies: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    for body in bodies:
        response = client.post("/xapi/statements", json=body, headers=headers)
        assert response.status_code == 200, response.text


def test_the_list_filters_by_agent_verb_activity_and_stored_time(  # type: ignore[no-untyped-def]
    client, lms_headers
) -> None:
    ana = {"homePage": "https://lms.example.com", "name": "ana"}
    s1 = statement(account="ana", verb=PASSED, activity=POLICY)
    s2 = statement(account=None, mbox="bo@example.com", verb=COMPLETED, activity=BRAND)
    s3 = statement(
        verb="http://adlnet.gov/expapi/verbs/attempted",
        actor={"objectType": "Group", "member": [{"account": ana}, {"mbox": "mailto:cy@x.co"}]},
    )
    s4 = statement(
        account="cy",
        verb="https://example.com/verbs/mentored",
        object={"objectType": "Agent", "account": ana},
    )
    s5 = statement(account="cy", verb=PASSED, activity=BRAND)
    _post_each(client, lms_headers, s1, s2, s3, s4, s5)
    every = get(client, lms_headers).json()
    assert every["more"] == ""
    rows = every["statements"]
    assert sorted(r["id"] for r in rows) == sorted(s["id"] for s in (s1, s2, s3, s4, s5))
    # newest stored first (ties in id order, newest-first too)
    assert [(r["stored"], r["id"]) for r in rows] == sorted(
        ((r["stored"], r["id"]) for r in rows), reverse=True
    )

    def ids(**params: str) -> set[str]:
        response = get(client, lms_headers, **params)
        assert response.status_code == 200, response.text
        return {r["id"] for r in response.json()["statements"]}

    # actor, member of the actor group, Agent object; the client's full Agent form works too
    as_tincan = {"objectType": "Agent", "name": "Ana Lima", "account": ana}
    assert ids(agent=json.dumps({"account": ana})) == {s1["id"], s3["id"], s4["id"]}
    assert ids(agent=json.dumps(as_tincan)) == {s1["id"], s3["id"], s4["id"]}
    assert ids(agent=json.dumps({"mbox": "mailto:BO@example.com"})) == {s2["id"]}
    assert ids(agent=json.dumps({"mbox": "mailto:nobody@example.com"})) == set()
    assert ids(verb=PASSED) == {s1["id"], s5["id"]}
    assert ids(activity=BRAND) == {s2["id"], s5["id"]}
    assert ids(activity=BRAND, verb=PASSED) == {s5["id"]}
    assert ids(agent=json.dumps({"account": ana}), verb=PASSED) == {s1["id"]}

    oldest, newest = rows[-1], rows[0]
    assert oldest["id"] not in ids(since=oldest["stored"])  # exclusive
    assert oldest["id"] in ids(until=oldest["stored"])  # inclusive
    assert newest["id"] not in ids(until=oldest["stored"]) or newest["stored"] == oldest["stored"]
    assert ids(since=newest["stored"]) == set()
    assert get(client, lms_headers, verb="https://example.com/none").json() == {
        "statements": [],
        "more": "",
    }


def test_more_pages_through_the_list_and_ascending_reverses_it(  # type: ignore[no-untyped-def]
    client, lms_headers
) -> None:
    sent = [statement() for _ in range(5)]
    _post_each(client, lms_headers, *sent[:2])
    client.post("/xapi/statements", json=sent[2:], headers=lms_headers)  # one stored time
    for ascending in ("false", "true"):
        seen: list[dict[str, Any]] = []
        page = get(client, lms_headers, limit="2", ascending=ascending).json()
        pages = 1
        while True:
            assert len(page["statements"]) <= 2
            seen += page["statements"]
            if not page["more"]:
                break
            assert page["more"].startswith("/xapi/statements?")
            response = client.get(page["more"], headers=lms_headers)
            assert response.status_code == 200, response.text
            page = response.json()
            pages += 1
        assert pages == 3
        assert sorted(s["id"] for s in seen) == sorted(s["id"] for s in sent)
        keys = [(s["stored"], s["id"]) for s in seen]
        assert keys == sorted(keys, reverse=ascending == "false")
    # limit 0 is "the server's maximum"
    assert len(get(client, lms_headers, limit="0").json()["statements"]) == 5


def test_format_ids_and_canonical(client, lms_headers) -> None:  # type: ignore[no-untyped-def]
    sent = statement(verb=PASSED)
    sent["verb"]["display"] = {"en-US": "passed", "fr-FR": "réussi"}
    sent["object"]["definition"]["name"] = {"en-US": "Policy", "fr-FR": "Politique"}
    client.post("/xapi/statements", json=sent, headers=lms_headers)
    ids = get(client, lms_headers, statementId=sent["id"], format="ids").json()
    assert ids["verb"] == {"id": PASSED}
    assert ids["object"] == {"objectType": "Activity", "id": POLICY}
    assert ids["actor"] == {"objectType": "Agent", "account": sent["actor"]["account"]}
    french = {**lms_headers, "Accept-Language": "fr;q=0.9, de;q=1"}
    canonical = get(client, french, statementId=sent["id"], format="canonical").json()
    assert canonical["verb"]["display"] == {"fr-FR": "réussi"}
    assert canonical["object"]["definition"]["name"] == {"fr-FR": "Politique"}
    assert canonical["actor"] == sent["actor"]
    exact = get(client, french, statementId=sent["id"], format="exact").json()
    assert exact["verb"]["display"] == sent["verb"]["display"]
    listed = get(client, lms_headers, format="ids").json()["statements"]
    assert listed[0]["verb"] == {"id": PASSED}


def test_statement_responses_say_how_far_reads_are_consistent(client, lms_headers) -> None:  # type: ignore[no-untyped-def]
    sid = str(uuid.uuid4())
    put = client.put(
        f"/xapi/statements?statementId={sid}", json=statement(sid=sid), headers=lms_headers
    )
    post = client.post("/xapi/statements", json=statement(), headers=lms_headers)
    listed = client.get("/xapi/statements", headers=lms_headers)
    assert put.status_code == 204 and post.status_code == 200 and listed.status_code == 200
    times = [_at(r.headers[CONSISTENT]) for r in (put, post, listed)]
    assert times == sorted(times)
    newest = _at(listed.json()["statements"][0]["stored"])
    assert newest <= times[-1]


def test_reading_needs_a_version_header_like_writing(client, lms_headers) -> None:  # type: ignore[no-untyped-def]
    headers = {k: v for k, v in lms_headers.items() if k != "X-Experience-API-Version"}
    response = client.get("/xapi/statements", headers=headers)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/xapi-version")
    assert client.get("/xapi/statements", headers={**headers, **VERSION}).status_code == 200


def test_junk_queries_get_4xx_never_5xx(client, lms_headers) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from service.xapi.reading import KNOWN

    client.post("/xapi/statements", json=[statement(), statement()], headers=lms_headers)
    names = st.sampled_from(sorted(KNOWN)) | st.text(min_size=1, max_size=12)
    tricky = ["true", "false", "0", "2", "-1", "²", "١٢", "9" * 20, "", " ", "null", "{}", "[]"]
    agents = st.builds(
        json.dumps,
        st.dictionaries(
            st.sampled_from(["mbox", "account", "name", "objectType", "member", "openid"]),
            st.text(max_size=10) | st.just({"homePage": "x:y", "name": "a"}) | st.none(),
            max_size=3,
        ),
    )
    values = (
        st.sampled_from([*tricky, "exact", "ids", "canonical", "mailto:a@b.co"])
        | st.text(max_size=40)
        | st.uuids().map(str)
        | agents
        | st.datetimes().map(lambda d: d.isoformat())
    )

    @settings(max_examples=300, deadline=None, database=None)
    @given(st.lists(st.tuples(names, values), max_size=4))
    def check(params: list[tuple[str, str]]) -> None:
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
        response = client.get(f"/xapi/statements?{query}", headers=lms_headers)
        assert response.status_code in (200, 400, 404), (params, response.text)
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"

    check()


def test_a_read_waits_for_a_statement_write_in_progress(  # type: ignore[no-untyped-def]
    client, lms_headers, database, app
) -> None:
    """Consistent-Through holds: a writer that has taken its stored time but not committed
    makes a reader wait, so the reader's answer includes it."""
    import threading

    from sqlmodel import Session

    from service.xapi import service
    from service.xapi.settings import XapiSettings

    body = statement()
    writer = Session(database.engine)
    ingested = service.ingest(
        writer,
        app.state.issuer,
        XapiSettings(),
        service.validate_batch([body]),
        source="other",
        actor="test",
        authority={"objectType": "Agent", "account": {"homePage": "https://x.test", "name": "w"}},
        version="1.0.3",
    )
    answers: list[Any] = []
    reader = threading.Thread(
        target=lambda: answers.append(client.get("/xapi/statements", headers=lms_headers))
    )
    try:
        reader.start()
        reader.join(1.5)
        assert reader.is_alive(), "the read did not wait for the write in progress"
        writer.commit()
    finally:
        writer.close()
        reader.join(30)
    [response] = answers
    assert [s["id"] for s in response.json()["statements"]] == [body["id"]]
    assert _at(response.headers[CONSISTENT]) >= ingested.stored_at
