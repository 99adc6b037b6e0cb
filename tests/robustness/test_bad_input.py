"""Bad input is a 4xx problem that changes nothing, never a 5xx, on both databases: cursors of
the wrong shape on every list, times at the edges of the representable range, integer ids no
column holds, NUL characters and unpaired surrogates anywhere text goes (issue 20)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from service.models import metadata
from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
PROBLEM = "application/problem+json"
XAPI = {"X-Experience-API-Version": "1.0.3"}
LO, HI = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"  # years 0 and 10000 in UTC
PASSED = "http://adlnet.gov/expapi/verbs/passed"


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def snapshot(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return {
            t.name: connection.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()
            for t in metadata.sorted_tables
        }


def problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    if slug is not None:
        assert body["type"] == f"https://credence.dev/problems/{slug}"
    return body


def ascii_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Request kwargs with ``json=`` sent as ASCII JSON (httpx writes UTF-8, which cannot carry
    an unpaired surrogate; a ``\\ud800`` escape can, as any JSON client may send it)."""
    if "json" not in kwargs:
        return kwargs
    rest = {k: v for k, v in kwargs.items() if k != "json"}
    headers = {"Content-Type": "application/json", **rest.pop("headers", {})}
    return {**rest, "content": json.dumps(kwargs["json"]).encode(), "headers": headers}


@pytest.fixture
def api(client, admin_headers):  # type: ignore[no-untyped-def]
    """The demo catalog applied; ``client`` with the admin key on every request."""
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    client.headers.update(admin_headers)
    return client


def earn_foundations(api, learner: str) -> str:  # type: ignore[no-untyped-def]
    for course, score in (("policy-101", 90), ("brand-voice-101", None)):
        body = {"learner_id": learner, "course_id": course, "completed_at": ago(3)}
        if score is not None:
            body["score"] = score
        response = api.post("/v1/completions", json=body)
        assert response.status_code == 201, response.text
    credentials = api.get("/v1/credentials", params={"learner_id": learner}).json()["items"]
    assert len(credentials) == 1
    return str(credentials[0]["id"])


AUTHZEN = {
    "subject": {"type": "user", "id": "ada"},
    "action": {"name": "run"},
    "resource": {"type": "program", "id": "post-on-brand-accounts"},
}


def _statement(timestamp: str) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:ada@example.com", "name": "Ada"},
        "verb": {"id": PASSED},
        "object": {"id": "https://lms.example.com/courses/policy-101"},
        "timestamp": timestamp,
    }


# ------------------------------------------------------------------------------ cursors

CURSOR_LISTS = [
    "/v1/credentials",
    "/v1/api-clients",
    "/v1/learners",
    "/v1/courses",
    "/v1/tracks",
    "/v1/programs",
    "/v1/roles",
    "/v1/tracks/social-media/levels",
    "/v1/webhooks",
    "/v1/webhooks/no-such-webhook/deliveries",
    "/v1/reports/compliance",
    "/v1/reports/compliance/overdue",
]
BAD_CURSORS = {
    "the issue's WyJ4IiwgMV0": "WyJ4IiwgMV0",  # ["x", 1]
    "[5, 1]": cursor([5, 1]),
    "1e30": cursor(1e30),
    "2**70": cursor(2**70),
    "true": cursor(True),
    "-1": cursor(-1),
    "naive time": cursor(["2026-01-01T00:00:00", "urn:uuid:0"]),
    "time in year 0": cursor([LO, "urn:uuid:0"]),
    "NUL in an id": cursor("a\x00b"),
    "NUL in a pair": cursor(["2026-01-01T00:00:00+00:00", "a\x00b"]),
    "surrogate in an id": cursor("a\ud800"),
    "object": cursor({"after": 1}),
    "report position of the wrong types": cursor([1, 2, "2026-01-01T00:00:00+00:00", 3]),
    "report position with a naive time": cursor(["r", "l", "2026-01-01T00:00:00", "x"]),
    "not base64": "%%%",
}


def test_every_cursor_paginated_list_refuses_cursors_of_the_wrong_shape(api, database) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(database)
    failures = []
    for path in CURSOR_LISTS:
        for label, value in BAD_CURSORS.items():
            response = api.get(path, params={"cursor": value})
            ok = response.status_code == 400 and response.headers["content-type"] == PROBLEM
            if not ok:
                failures.append(f"{path} cursor {label}: {response.status_code}")
    assert failures == []
    assert snapshot(database) == before


def test_cursors_the_api_returns_still_page_through_credentials_and_api_clients(api) -> None:  # type: ignore[no-untyped-def]
    issued = {earn_foundations(api, learner) for learner in ("ada", "bob", "cy")}
    seen: list[str] = []
    page = api.get("/v1/credentials", params={"limit": 1}).json()
    while True:
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        page = api.get("/v1/credentials", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert sorted(seen) == sorted(issued)

    for name in ("one", "two"):
        assert api.post("/v1/api-clients", json={"name": name, "scopes": ["audit:read"]}).is_success
    names: list[str] = []
    page = api.get("/v1/api-clients", params={"limit": 1}).json()
    while page["items"]:
        names += [item["name"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        page = api.get("/v1/api-clients", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert names == ["admin", "one", "two"]


# ------------------------------------------------------------------------- edge times


def _time_requests(moment: str) -> list[tuple[str, str, str, dict[str, Any], int]]:
    """(label, method, url, request kwargs, expected status) for each place a time goes."""
    completion = {"learner_id": "ada", "course_id": "policy-101", "completed_at": moment}
    check = {"learner_id": "ada", "program": "post-on-brand-accounts"}
    return [
        ("completed_at", "POST", "/v1/completions", {"json": completion}, 422),
        (
            "at= of a check",
            "GET",
            "/v1/permissions/check",
            {"params": {**check, "at": moment}},
            422,
        ),
        (
            "at of a batch check",
            "POST",
            "/v1/permissions/check",
            {"json": {"checks": [{**check, "at": moment}]}},
            422,
        ),
        (
            "AuthZEN context.time",
            "POST",
            "/access/v1/evaluation",
            {"json": {**AUTHZEN, "context": {"time": moment}}},
            400,
        ),
        (
            "AuthZEN batch context.time",
            "POST",
            "/access/v1/evaluations",
            {"json": {**AUTHZEN, "evaluations": [{"context": {"time": moment}}]}},
            400,
        ),
        (
            "expiring_before=",
            "GET",
            "/v1/credentials",
            {"params": {"expiring_before": moment}},
            422,
        ),
        ("progress at=", "GET", "/v1/learners/ada/progress", {"params": {"at": moment}}, 422),
        ("report at=", "GET", "/v1/reports/certification", {"params": {"at": moment}}, 422),
        (
            "attributes_effective_at",
            "PUT",
            "/v1/learners/ada",
            {"json": {"attributes": {"role": "x"}, "attributes_effective_at": moment}},
            422,
        ),
        ("key compromise at", "POST", "/v1/keys/abc/compromise", {"json": {"at": moment}}, 422),
        (
            "xAPI timestamp",
            "POST",
            "/xapi/statements",
            {"json": _statement(moment), "headers": XAPI},
            400,
        ),
    ]


@pytest.mark.parametrize("moment", [LO, HI], ids=["year-0-in-utc", "year-10000-in-utc"])
def test_times_past_the_representable_range_are_refused_everywhere(api, database, moment) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(database)
    failures = []
    for label, method, url, kwargs, status in _time_requests(moment):
        response = api.request(method, url, **kwargs)
        if response.status_code != status or response.headers["content-type"] != PROBLEM:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
    batch = api.post(
        "/v1/completions/batch",
        json={"items": [{"learner_id": "ada", "course_id": "policy-101", "completed_at": moment}]},
    )
    assert batch.status_code == 200, batch.text
    assert [item["status"] for item in batch.json()["items"]] == [422]
    assert failures == []
    assert snapshot(database) == before


@pytest.mark.parametrize("number", [253402300800, 1767225600, 1.5e9])
def test_a_number_is_not_a_time(api, database, number) -> None:  # type: ignore[no-untyped-def]
    # pydantic would take it as Unix time, seconds or (past 2e10) milliseconds: 253402300800,
    # year 10000 in seconds, was stored as a completion in 1978
    before = snapshot(database)
    completion = {"learner_id": "ada", "course_id": "policy-101", "completed_at": number}
    problem(api.post("/v1/completions", json=completion), 422, "invalid-input")
    check = {"learner_id": "ada", "program": "post-on-brand-accounts", "at": number}
    problem(api.post("/v1/permissions/check", json={"checks": [check]}), 422, "invalid-input")
    assert snapshot(database) == before


def test_times_inside_the_range_edges_still_work(api) -> None:  # type: ignore[no-untyped-def]
    check = {"learner_id": "ada", "program": "post-on-brand-accounts"}
    for moment in ("0001-01-02T00:00:00Z", "9999-12-30T23:59:59Z"):
        response = api.get("/v1/permissions/check", params={**check, "at": moment})
        assert response.status_code == 200, response.text
        assert response.json()["allowed"] is False
        response = api.get("/v1/credentials", params={"expiring_before": moment})
        assert response.status_code == 200, response.text


def test_a_validity_beyond_year_9999_saturates_instead_of_failing_issuance(api) -> None:  # type: ignore[no-untyped-def]
    catalog = api.get("/v1/catalog").json()
    catalog["tracks"][0]["levels"][0]["valid_for"] = "P10000Y"
    assert api.put("/v1/catalog", json=catalog).status_code == 200
    credential_id = earn_foundations(api, "ada")
    credential = api.get(f"/v1/credentials/{credential_id}").json()
    assert credential["valid_until"].startswith("9999-12-30T23:59:59")
    verified = api.post(
        "/v1/verify",
        content=api.get(
            f"/v1/credentials/{credential_id}", headers={"Accept": "application/vc+jwt"}
        ).text,
        headers={"Content-Type": "application/vc+jwt"},
    )
    assert verified.status_code == 200 and verified.json()["verified"] is True, verified.text


# ------------------------------------------------------------------------- integer ids


@pytest.mark.parametrize("list_id", [2**31, 2**63, 2**64, -(2**63) - 1, 0])
def test_status_list_ids_no_column_holds_are_404(client, list_id) -> None:  # type: ignore[no-untyped-def]
    problem(client.get(f"/v1/status-lists/{list_id}"), 404, "not-found")


# ------------------------------------------------------------ NUL and unpaired surrogates

NUL, SURROGATE = "a\x00b", "a\ud800"


def _text_requests(bad: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(label, method, url, request kwargs) with ``bad`` in each kind of string field."""
    completion = {"learner_id": "ada", "course_id": "policy-101", "completed_at": ago(1)}
    statement = _statement(ago(1))
    statement["actor"]["name"] = bad
    return [
        ("learner name", "PUT", "/v1/learners/ada", {"json": {"name": bad}}),
        ("attribute value", "PUT", "/v1/learners/ada", {"json": {"attributes": {"role": bad}}}),
        ("attribute name", "PUT", "/v1/learners/ada", {"json": {"attributes": {bad: "x"}}}),
        ("course name", "POST", "/v1/courses", {"json": {"id": "c-9", "name": bad}}),
        ("external id", "POST", "/v1/completions", {"json": {**completion, "external_id": bad}}),
        (
            "inline learner name",
            "POST",
            "/v1/completions",
            {"json": {**completion, "learner": {"name": bad}}},
        ),
        (
            "batch item",
            "POST",
            "/v1/completions/batch",
            {"json": {"items": [{**completion, "external_id": bad}]}},
        ),
        (
            "API client name",
            "POST",
            "/v1/api-clients",
            {"json": {"name": bad, "scopes": ["admin"]}},
        ),
        (
            "revocation reason",
            "POST",
            "/v1/credentials/urn:uuid:0/revoke",
            {"json": {"reason": bad}},
        ),
        (
            "manual award reason",
            "POST",
            "/v1/credentials",
            {"json": {"learner_id": "ada", "level": "social-media/foundations", "reason": bad}},
        ),
        ("xAPI actor name", "POST", "/xapi/statements", {"json": statement, "headers": XAPI}),
        (
            "AuthZEN subject id",
            "POST",
            "/access/v1/evaluation",
            {"json": {**AUTHZEN, "subject": {"type": "user", "id": bad}}},
        ),
        (
            "webhook description",
            "POST",
            "/v1/webhooks",
            {"json": {"url": "https://example.com/h", "description": bad}},
        ),
        (
            "catalog as JSON",
            "PUT",
            "/v1/catalog",
            {"json": {"courses": [{"id": "c", "name": bad}]}},
        ),
    ]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "unpaired-surrogate"])
def test_nul_and_unpaired_surrogates_in_json_bodies_are_400_everywhere(api, database, bad) -> None:  # type: ignore[no-untyped-def]
    earn_foundations(api, "ada")
    before = snapshot(database)
    failures = []
    for label, method, url, kwargs in _text_requests(bad):
        response = api.request(method, url, **ascii_json(kwargs))
        ok = (
            response.status_code == 400
            and response.headers["content-type"] == PROBLEM
            and response.json()["type"] == "https://credence.dev/problems/invalid-text"
        )
        if not ok:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
    assert failures == []
    assert snapshot(database) == before


def test_the_body_check_names_where_the_text_is(api) -> None:  # type: ignore[no-untyped-def]
    response = api.put("/v1/learners/ada", json={"name": "ok", "attributes": {"role": NUL}})
    body = problem(response, 400, "invalid-text")
    assert [e["location"] for e in body["errors"]] == ["body.attributes.role"]
    # CESU-8 bytes of a surrogate, not escaped: Python's JSON reader would let them through
    raw = b'{"name": "a\xed\xa0\x80"}'
    response = api.put(
        "/v1/learners/ada", content=raw, headers={"Content-Type": "application/json"}
    )
    assert problem(response, 400, "invalid-text")["errors"][0]["location"] == "body.name"


def test_the_body_check_sees_a_body_sent_in_chunks(app, admin_headers, database) -> None:  # type: ignore[no-untyped-def]
    # the escape split across two chunks, as a streaming client or a slow network sends it
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b'{"name": "a\\u00', b'00b", "attributes": {}', b"}"):
            yield chunk

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # each chunk its own http.request message
        async with httpx.AsyncClient(transport=transport, base_url="http://credence.test") as c:
            return await c.put(
                "/v1/learners/ada",
                content=chunks(),
                headers={**admin_headers, "Content-Type": "application/json"},
            )

    before = snapshot(database)
    response = asyncio.run(send())
    assert problem(response, 400, "invalid-text")["errors"][0]["location"] == "body.name"
    assert snapshot(database) == before


def test_text_that_only_looks_suspicious_is_accepted(api) -> None:  # type: ignore[no-untyped-def]
    # a surrogate pair (an emoji, escaped), an escaped backslash before "u0000", Hangul (its
    # UTF-8 starts with the byte 0xED too)
    raw = '{"name": "Ada \\ud83d\\ude00 \\\\u0000 \ud55c"}'.encode()
    response = api.put(
        "/v1/learners/ada", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (200, 201), response.text
    assert api.get("/v1/learners/ada").json()["name"] == "Ada \U0001f600 \\u0000 \ud55c"


PATHS_WITH_NUL = [
    ("GET", "/v1/learners/a%00b"),
    ("GET", "/v1/credentials/a%00b"),
    ("POST", "/v1/credentials/a%00b/revoke"),
    ("GET", "/v1/courses/a%00b"),
    ("DELETE", "/v1/tracks/a%00b"),
    ("GET", "/v1/tracks/social-media/levels/a%00b"),
    ("GET", "/v1/webhooks/a%00b"),
    ("DELETE", "/v1/api-clients/a%00b"),
    ("POST", "/v1/keys/a%00b/compromise"),
    ("POST", "/v1/levels/social-media/a%00b/evaluate"),
]
QUERIES_WITH_NUL = [
    ("/v1/credentials", {"learner_id": NUL}),
    ("/v1/learners", {"attribute.role": NUL}),
    ("/v1/reports/certification", {"group_by": NUL}),
    ("/v1/reports/funnel", {"track": NUL}),
    ("/v1/permissions/check", {"learner_id": NUL, "program": "post-on-brand-accounts"}),
]


def test_nul_in_path_ids_and_query_parameters_is_400(api, database) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(database)
    failures = []
    for method, path in PATHS_WITH_NUL:
        response = api.request(method, path)
        if response.status_code != 400 or response.headers["content-type"] != PROBLEM:
            failures.append(f"{method} {path}: {response.status_code}")
    for path, params in QUERIES_WITH_NUL:
        response = api.get(path, params=params)
        if response.status_code != 400 or response.headers["content-type"] != PROBLEM:
            failures.append(f"GET {path} {params}: {response.status_code}")
    put = api.put("/xapi/statements", params={"statementId": NUL}, json={}, headers=XAPI)
    if put.status_code != 400:
        failures.append(f"PUT /xapi/statements?statementId=NUL: {put.status_code}")
    assert failures == []
    assert snapshot(database) == before


def test_nul_in_a_yaml_catalog_is_400(api, database) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(database)
    yaml_body = b'courses:\n  - id: c-1\n    name: "a\\0b"\n'
    response = api.put(
        "/v1/catalog", content=yaml_body, headers={"Content-Type": "application/yaml"}
    )
    assert problem(response, 400, "invalid-text")["errors"][0]["location"] == "body.courses.0.name"
    assert snapshot(database) == before


# --------------------------------------------------------------------- public verify

KID_PREFIXES = ("https://credence.test/keys/", "https://credence.test/.well-known/jwks.json#")


def _jwt(header: dict[str, Any], payload: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part(header)}.{part(payload)}.{'A' * 86}"


@pytest.mark.parametrize("prefix", KID_PREFIXES)
@pytest.mark.parametrize("suffix", ["a\x00b", "a\ud800", "a b", "x" * 65], ids=repr)
def test_a_kid_naming_no_key_is_a_verification_result_not_a_5xx(client, prefix, suffix) -> None:  # type: ignore[no-untyped-def]
    token = _jwt({"alg": "EdDSA", "kid": prefix + suffix, "typ": "JWT"}, {"iss": "x"})
    response = client.post(
        "/v1/verify", content=token, headers={"Content-Type": "application/vc+jwt"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified"] is False
    assert {c["check"]: c["ok"] for c in body["checks"]}["signature"] is False


def test_a_surrogate_in_a_verified_token_is_echoed_escaped(client) -> None:  # type: ignore[no-untyped-def]
    kid = "https://elsewhere.example/keys#\ud800"  # another issuer's: named in the checks
    token = _jwt({"alg": "EdDSA", "kid": kid, "typ": "JWT"}, {"iss": "x"})
    response = client.post(
        "/v1/verify", content=token, headers={"Content-Type": "application/vc+jwt"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified"] is False
    assert any(kid in check["detail"] for check in body["checks"])
