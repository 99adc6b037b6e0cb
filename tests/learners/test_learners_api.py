"""Learners: upsert, attribute history with times, id/email validation, attribute filters,
cursor pagination, scopes — every bad input a problem document that writes nothing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app

PROBLEM = "application/problem+json"


@pytest.fixture
def writer(make_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_key('completions:write', name='hr-sync')}"}


@pytest.fixture
def reader(make_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_key('learners:read', name='reports')}"}


def learner_events(client, admin_headers) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    items = client.get("/v1/audit/events?limit=500", headers=admin_headers).json()["items"]
    return [e for e in items if e["action"].startswith("learner.")]


def test_upsert_creates_then_updates_and_records_attribute_history(  # type: ignore[no-untyped-def]
    client, writer, reader, admin_headers
) -> None:
    hired = "2026-03-01T09:00:00Z"
    created = client.put(
        "/v1/learners/emp-00042",
        json={
            "email": "Ada.Lovelace@Example.COM",
            "name": "Ada Lovelace",
            "attributes": {"department": "marketing", "region": "EU"},
            "attributes_effective_at": hired,
        },
        headers=writer,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "ada.lovelace@example.com"
    assert body["attributes"] == {"department": "marketing", "region": "EU"}
    assert body["subject_id"].startswith("urn:uuid:")
    assert {(h["name"], h["value"], h["changed_at"]) for h in body["attribute_history"]} == {
        ("department", "marketing", "2026-03-01T09:00:00Z"),
        ("region", "EU", "2026-03-01T09:00:00Z"),
    }

    # the same body again: nothing changes, nothing is recorded
    same = client.put(
        "/v1/learners/emp-00042",
        json={"email": "ada.lovelace@example.com", "attributes": body["attributes"]},
        headers=writer,
    )
    assert same.status_code == 200 and same.json()["revision"] == 1
    assert len(learner_events(client, admin_headers)) == 1

    # a move to sales, the region dropped (removal recorded as null), a role given
    moved = client.put(
        "/v1/learners/emp-00042",
        json={"attributes": {"department": "sales", "role": "community-manager"}},
        headers=writer,
    )
    assert moved.status_code == 200
    assert moved.json()["revision"] == 2
    assert moved.json()["attributes"] == {"department": "sales", "role": "community-manager"}
    assert moved.json()["email"] == "ada.lovelace@example.com"  # omitted fields stay

    got = client.get("/v1/learners/emp-00042", headers=reader)
    assert got.status_code == 200
    history = got.json()["attribute_history"]
    assert [(h["name"], h["value"]) for h in history[:2]] == [
        ("department", "marketing"),
        ("region", "EU"),
    ]
    later = {(h["name"], h["value"]) for h in history[2:]}
    assert later == {("department", "sales"), ("region", None), ("role", "community-manager")}
    changed_at = {h["changed_at"] for h in history[2:]}
    assert len(changed_at) == 1
    moment = datetime.fromisoformat(changed_at.pop().replace("Z", "+00:00"))
    assert abs(moment - datetime.now(UTC)) < timedelta(minutes=1)

    events = learner_events(client, admin_headers)
    assert [e["action"] for e in events] == ["learner.created", "learner.updated"]
    assert events[1]["subject"] == "learner:emp-00042"
    assert events[1]["data"]["changes"] == {
        "attributes.department": {"from": "marketing", "to": "sales"},
        "attributes.region": {"from": "EU", "to": None},
        "attributes.role": {"from": None, "to": "community-manager"},
    }
    assert events[1]["actor"] == events[0]["actor"] != "test"


def test_null_attribute_removes_it(client, writer) -> None:  # type: ignore[no-untyped-def]
    client.put("/v1/learners/u1", json={"attributes": {"department": "it"}}, headers=writer)
    removed = client.put(
        "/v1/learners/u1", json={"attributes": {"department": None}}, headers=writer
    )
    assert removed.json()["attributes"] == {}
    assert [h["value"] for h in removed.json()["attribute_history"]] == ["it", None]


def test_null_clears_email_name_and_did_and_omitting_keeps_them(client, writer) -> None:  # type: ignore[no-untyped-def]
    full = {"email": "ana@example.com", "name": "Ana", "did": "did:web:ana.example"}
    client.put("/v1/learners/u1", json=full, headers=writer)
    kept = client.put("/v1/learners/u1", json={"attributes": {"region": "EU"}}, headers=writer)
    assert {k: kept.json()[k] for k in full} == full
    cleared = client.put("/v1/learners/u1", json={"email": None, "did": None}, headers=writer)
    assert cleared.status_code == 200
    assert {k: cleared.json()[k] for k in full} == {"email": None, "name": "Ana", "did": None}
    unchanged = client.put("/v1/learners/u1", json={"email": None}, headers=writer)
    assert unchanged.json()["revision"] == cleared.json()["revision"]  # nothing left to clear


@pytest.mark.parametrize(
    "learner_id",
    ["a", "E-1", "jane.doe@example.com", "okta:00u1abcd", "x+y_z", "9" * 128],
)
def test_accepted_learner_ids(client, writer, learner_id) -> None:  # type: ignore[no-untyped-def]
    response = client.put(f"/v1/learners/{learner_id}", json={}, headers=writer)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == learner_id


BAD_UPSERTS: list[tuple[str, Any]] = [
    ("/v1/learners/" + "9" * 129, {}),  # too long
    ("/v1/learners/-leading-dash", {}),
    ("/v1/learners/has%20space", {}),
    ("/v1/learners/semi;colon", {}),
    ("/v1/learners/ok", {"email": "not-an-email"}),
    ("/v1/learners/ok", {"email": "a@b"}),
    ("/v1/learners/ok", {"email": "two@@example.com"}),
    ("/v1/learners/ok", {"email": "x" * 65 + "@example.com"}),
    ("/v1/learners/ok", {"email": 42}),
    ("/v1/learners/ok", {"name": ""}),
    ("/v1/learners/ok", {"did": "did:"}),
    ("/v1/learners/ok", {"did": "https://example.com"}),
    ("/v1/learners/ok", {"attributes": {"Department": "x"}}),
    ("/v1/learners/ok", {"attributes": {"department": ""}}),
    ("/v1/learners/ok", {"attributes": {"department": "x" * 201}}),
    ("/v1/learners/ok", {"attributes": {"department": 7}}),
    ("/v1/learners/ok", {"attributes": {"department": ["a"]}}),
    ("/v1/learners/ok", {"attributes": {f"a{i}": "v" for i in range(51)}}),
    ("/v1/learners/ok", {"attributes": {"role": "x"}, "attributes_effective_at": "soon"}),
    (
        "/v1/learners/ok",
        {"attributes": {"role": "x"}, "attributes_effective_at": "2030-01-01T00:00:00Z"},
    ),
    (
        "/v1/learners/ok",
        {"attributes": {"role": "x"}, "attributes_effective_at": "2026-01-01T00:00:00"},
    ),
    ("/v1/learners/ok", {"unknown": "field"}),
    ("/v1/learners/ok", ["not", "an", "object"]),
]


def test_bad_upserts_are_422_problems_and_write_nothing(  # type: ignore[no-untyped-def]
    client, writer, admin_headers
) -> None:
    failures = []
    for url, body in BAD_UPSERTS:
        response = client.put(url, json=body, headers=writer)
        if (
            response.status_code != 422
            or response.headers["content-type"] != PROBLEM
            or not response.json().get("detail")
        ):
            failures.append((url, body, response.status_code, response.text[:200]))
    assert failures == [], "\n".join(map(str, failures))
    assert client.get("/v1/learners", headers=admin_headers).json()["items"] == []
    assert learner_events(client, admin_headers) == []


def test_malformed_json_is_400_and_unknown_learner_404(client, writer, reader) -> None:  # type: ignore[no-untyped-def]
    malformed = client.put(
        "/v1/learners/u1",
        content=b'{"email": ',
        headers={**writer, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM
    missing = client.get("/v1/learners/nobody", headers=reader)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


def _add(client, headers, learner_id: str, **attributes: str) -> None:  # type: ignore[no-untyped-def]
    response = client.put(
        f"/v1/learners/{learner_id}", json={"attributes": attributes}, headers=headers
    )
    assert response.status_code == 201


def test_filter_by_attributes_and_paginate(client, writer, reader) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        _add(client, writer, f"s-{n}", department="sales", region="EU" if n % 2 else "US")
    _add(client, writer, "m-1", department="marketing", region="EU")
    _add(client, writer, "x-1", region="EU")

    sales = client.get("/v1/learners?attribute.department=sales", headers=reader).json()
    assert [x["id"] for x in sales["items"]] == [f"s-{n}" for n in range(5)]
    both = client.get(
        "/v1/learners?attribute.department=sales&attribute.region=EU", headers=reader
    ).json()
    assert [x["id"] for x in both["items"]] == ["s-1", "s-3"]
    nobody = client.get("/v1/learners?attribute.department=Sales", headers=reader).json()
    assert nobody["items"] == [] and nobody["next_cursor"] is None

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/v1/learners?attribute.department=sales&limit=2" + (
            f"&cursor={cursor}" if cursor else ""
        )
        page = client.get(url, headers=reader).json()
        pages += 1
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"s-{n}" for n in range(5)] and pages == 3

    everyone = client.get("/v1/learners?limit=500", headers=reader).json()
    assert [x["id"] for x in everyone["items"]] == sorted(["m-1", "x-1", *seen])

    # a learner moved out of sales no longer matches
    client.put("/v1/learners/s-0", json={"attributes": {"department": "it"}}, headers=writer)
    sales = client.get("/v1/learners?attribute.department=sales", headers=reader).json()
    assert "s-0" not in [x["id"] for x in sales["items"]]


@pytest.mark.parametrize(
    "query",
    [
        "attribute.Department=sales",
        "attribute.=sales",
        "department=sales",
        "attribute.department=" + "x" * 201,
        "cursor=%%%",
        "cursor=MTIz",
        "limit=0",
        "limit=501",
    ],
)
def test_bad_list_queries_are_problems(client, reader, query) -> None:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/learners?{query}", headers=reader)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"] == PROBLEM


def test_scopes(client, make_key, writer, reader) -> None:  # type: ignore[no-untyped-def]
    catalog = {"Authorization": f"Bearer {make_key('catalog:read', name='catalog')}"}
    assert client.put("/v1/learners/u1", json={}, headers=reader).status_code == 403
    assert client.put("/v1/learners/u1", json={}, headers=catalog).status_code == 403
    assert client.put("/v1/learners/u1", json={}, headers={}).status_code == 401
    assert client.put("/v1/learners/u1", json={}, headers=writer).status_code == 201
    assert client.get("/v1/learners/u1", headers=catalog).status_code == 403
    assert client.get("/v1/learners", headers=catalog).status_code == 403
    assert client.get("/v1/learners/u1", headers=reader).status_code == 200


def test_concurrent_first_upserts_make_one_learner(  # type: ignore[no-untyped-def]
    settings, database, app, writer, admin_headers
) -> None:
    """Six clients at once, each on an app of its own over the one database, as six server
    processes would be: one app's anyio limiters cannot be shared by six event loops."""
    results: list[Any] = []

    def upsert(own_app: Any) -> None:
        with TestClient(own_app, raise_server_exceptions=False) as own:
            results.append(
                own.put(
                    "/v1/learners/new-hire",
                    json={"attributes": {"department": "sales"}},
                    headers=writer,
                )
            )

    apps = [create_app(settings, engine=database.engine) for _ in range(6)]  # built one by one
    threads = [threading.Thread(target=upsert, args=(own_app,)) for own_app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [200] * 5 + [201], [r.text for r in results]
    with TestClient(app) as client:
        history = client.get("/v1/learners/new-hire", headers=admin_headers).json()
        assert len(history["attribute_history"]) == 1
        assert len(learner_events(client, admin_headers)) == 1
