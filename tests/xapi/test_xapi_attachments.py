"""Statements with attachments (xAPI 1.0.3 Communication 1.5.2): multipart/mixed accepted, each
part matched to an attachment by the SHA-2 of its data, stored or discarded per
CREDENCE_XAPI_ATTACHMENTS; a mismatch or a missing part is a 400 that stores nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app
from service.settings import Settings
from service.xapi.settings import XapiSettings, get_xapi_settings
from tests.xapi.conftest import BRAND, POLICY, statement

BOUNDARY = "abcABC0123'()+_,-./:=?"  # the spec's example boundary: every allowed character kind
DATA = b"here is a simple attachment"
PDF = b"%PDF-1.4\r\n--abcABC0123 not the boundary\r\n\x00\xff binary"


def sha(data: bytes, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def attachment(data: bytes = DATA, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://adlnet.gov/expapi/attachments/certificate",
        "display": {"en-US": "Certificate"},
        "contentType": "text/plain",
        "length": len(data),
        "sha2": sha(data),
        **extra,
    }


def multipart(
    statements: Any,
    parts: list[tuple[dict[str, str], bytes]],
    *,
    first_type: str = "application/json",
) -> bytes:
    crlf, dashes = b"\r\n", b"--" + BOUNDARY.encode()
    body = dashes + crlf + f"Content-Type: {first_type}".encode() + crlf + crlf
    body += json.dumps(statements).encode()
    for headers, data in parts:
        body += crlf + dashes + crlf
        body += b"".join(f"{k}: {v}".encode() + crlf for k, v in headers.items()) + crlf + data
    return body + crlf + dashes + b"--" + crlf


def part(data: bytes = DATA, **headers: str) -> tuple[dict[str, str], bytes]:
    found = {
        "Content-Type": "text/plain",
        "Content-Transfer-Encoding": "binary",
        "X-Experience-API-Hash": sha(data),
    }
    found.update({k.replace("_", "-"): v for k, v in headers.items()})
    return {k: v for k, v in found.items() if v}, data


def send(client, headers, body: bytes, *, method: str = "POST", url: str = "/xapi/statements"):  # type: ignore[no-untyped-def]
    content_type = f'multipart/mixed; boundary="{BOUNDARY}"'
    return client.request(
        method, url, content=body, headers={**headers, "Content-Type": content_type}
    )


def counts(database) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("xapi_statement", "xapi_attachment", "completion")
        )


def test_a_passed_statement_with_a_certificate_becomes_a_completion(  # type: ignore[no-untyped-def]
    client, demo_catalog, lms_headers, admin_headers, database
) -> None:
    with_pdf = statement(
        activity=POLICY, attachments=[attachment(PDF, contentType="application/pdf")]
    )
    second = statement(activity=BRAND, attachments=[attachment(PDF), attachment()])
    body = multipart([with_pdf, second], [part(PDF, Content_Type="application/pdf"), part()])
    response = send(client, lms_headers, body)
    assert response.status_code == 200, response.text
    assert response.json() == [with_pdf["id"], second["id"]]
    assert counts(database) == (2, 0, 2)  # attachments discarded by default
    levels = client.get("/v1/credentials?learner_id=ana", headers=admin_headers).json()
    assert [c["level"] for c in levels["items"]] == ["social-media/foundations"]
    stored = client.get(f"/xapi/statements?statementId={second['id']}", headers=lms_headers)
    assert stored.json()["attachments"] == second["attachments"]
    # attachments=true: multipart with the statement; no data was kept, so no further part
    both = client.get(
        f"/xapi/statements?statementId={second['id']}&attachments=true", headers=lms_headers
    )
    assert both.status_code == 200
    assert both.headers["content-type"].startswith("multipart/mixed; boundary=")
    assert both.content.count(b"X-Experience-API-Hash") == 0


def test_stored_attachments_come_back_with_attachments_true(  # type: ignore[no-untyped-def]
    client, lms_headers, database, app
) -> None:
    app.dependency_overrides[get_xapi_settings] = lambda: XapiSettings(attachments="store")
    sid = str(uuid.uuid4())
    body = multipart(statement(sid=sid, attachments=[attachment(PDF)]), [part(PDF)])
    put = send(client, lms_headers, body, method="PUT", url=f"/xapi/statements?statementId={sid}")
    assert put.status_code == 204, put.text
    assert counts(database)[:2] == (1, 1)
    again = statement(attachments=[attachment(PDF, sha2=sha(PDF).upper())])
    assert send(client, lms_headers, multipart(again, [part(PDF)])).status_code == 200
    assert counts(database)[:2] == (2, 1)  # kept once, by its SHA-2
    response = client.get(
        f"/xapi/statements?statementId={sid}&attachments=true", headers=lms_headers
    )
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    marker = content_type.split("boundary=", 1)[1].strip('"').encode()
    sections = response.content.split(b"--" + marker)
    assert sections[0] == b"" and sections[-1] == b"--\r\n"
    json_part, data_part = sections[1], sections[2]
    assert b"Content-Type: application/json" in json_part and sid.encode() in json_part
    head, _, data = data_part.partition(b"\r\n\r\n")
    assert f"X-Experience-API-Hash: {sha(PDF)}".encode() in head
    assert data == PDF + b"\r\n"  # the CRLF before the next delimiter belongs to it
    listed = client.get("/xapi/statements?attachments=true", headers=lms_headers)
    assert listed.content.count(b"X-Experience-API-Hash") == 1


def test_statements_without_attachment_parts_are_accepted_as_multipart_or_json(  # type: ignore[no-untyped-def]
    client, lms_headers
) -> None:
    linked = statement(attachments=[attachment(fileUrl="https://lms.example.com/cert.txt")])
    for body in (
        multipart(statement(), []),
        multipart(linked, []),
        multipart(
            statement(attachments=[attachment(PDF, sha2=sha(PDF, "sha512"))]),
            [part(PDF, X_Experience_API_Hash=sha(PDF, "sha512"))],
        ),
        multipart(statement(), [], first_type="application/json; charset=utf-8"),
    ):
        response = send(client, lms_headers, body)
        assert response.status_code == 200, response.text
    json_linked = statement(attachments=[attachment(fileUrl="https://lms.example.com/cert.txt")])
    response = client.post("/xapi/statements", json=json_linked, headers=lms_headers)
    assert response.status_code == 200


def _bad_requests() -> list[tuple[str, bytes | None, str | None]]:
    """(why, multipart body or None for a JSON body, the Content-Type when not multipart)."""
    one = statement(attachments=[attachment()])
    return [
        (
            "hash header does not match the data",
            multipart(one, [part(b"other data", X_Experience_API_Hash=sha(DATA))]),
            None,
        ),
        ("part matches no attachment", multipart(one, [part(), part(PDF)]), None),
        (
            "attachment without fileUrl and part",
            multipart(statement(attachments=[attachment(), attachment(PDF)]), [part()]),
            None,
        ),
        ("part without hash header", multipart(one, [part(X_Experience_API_Hash="")]), None),
        (
            "base64 transfer encoding",
            multipart(one, [part(Content_Transfer_Encoding="base64")]),
            None,
        ),
        ("first part is not JSON", multipart(one, [part()], first_type="text/plain"), None),
        (
            "hash of no SHA-2 length",
            multipart(
                statement(attachments=[attachment(sha2="abc")]), [part(X_Experience_API_Hash="abc")]
            ),
            None,
        ),
        ("no closing boundary", multipart(one, [part()])[:-8], None),
        ("not multipart at all", b"just text", None),
        ("multipart/form-data", multipart(one, [part()]), "multipart/form-data; boundary=x"),
        ("multipart without boundary", multipart(one, [part()]), "multipart/mixed"),
        ("text/plain", b"[]", "text/plain"),
    ]


@pytest.mark.parametrize("why", [case[0] for case in _bad_requests()])
def test_mismatched_or_missing_parts_are_400_and_store_nothing(  # type: ignore[no-untyped-def]
    client, lms_headers, database, why
) -> None:
    _, body, content_type = next(case for case in _bad_requests() if case[0] == why)
    assert body is not None
    if content_type is None:
        response = send(client, lms_headers, body)
    else:
        response = client.post(
            "/xapi/statements", content=body, headers={**lms_headers, "Content-Type": content_type}
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-experience-api-version"] == "1.0.3"
    assert counts(database) == (0, 0, 0)


def test_json_statements_with_attachment_data_missing_are_400(
    client, lms_headers, database
) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/xapi/statements",
        json=[statement(), statement(attachments=[attachment()])],
        headers=lms_headers,
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["type"].endswith("/xapi-attachments")
    assert problem["field"] == "statements[1].attachments[0]"
    assert counts(database) == (0, 0, 0)


def test_the_body_size_cap_covers_attachments(database, tmp_path, make_key) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        database_url=database.url,
        base_url="https://credence.test",
        log_level="WARNING",
        dev_key_file=str(tmp_path / "dev-key"),
        max_body_bytes=4096,
    )
    big = b"x" * 5000
    body = multipart(statement(attachments=[attachment(big)]), [part(big)])
    headers = {
        "X-Experience-API-Version": "1.0.3",
        "Authorization": f"Bearer {make_key('completions:write')}",
    }
    with TestClient(create_app(settings, engine=database.engine)) as client:
        response = send(client, headers, body)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        small = multipart(statement(attachments=[attachment()]), [part()])
        assert send(client, headers, small).status_code == 200


def test_junk_multipart_bodies_get_4xx_never_5xx(client, lms_headers, database) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import given, settings
    from hypothesis import strategies as st

    valid = multipart(statement(attachments=[attachment()]), [part()])
    pieces = st.sampled_from(
        [
            b"--" + BOUNDARY.encode(),
            b"\r\n",
            b"\r\n\r\n",
            b"--",
            b"X-Experience-API-Hash: ",
            sha(DATA).encode(),
            b"Content-Type: application/json",
            b"{}",
            b"[",
            DATA,
        ]
    )
    junk = st.lists(pieces | st.binary(max_size=20), max_size=12).map(b"".join)
    # cut or corrupt the valid body, or build one from pieces
    bodies = (
        junk
        | st.integers(0, len(valid)).map(lambda n: valid[:n])
        | st.tuples(st.integers(0, len(valid) - 1), st.binary(min_size=1, max_size=3)).map(
            lambda c: valid[: c[0]] + c[1] + valid[c[0] + len(c[1]) :]
        )
    )

    @settings(max_examples=150, deadline=None, database=None)
    @given(bodies)
    def check(body: bytes) -> None:
        response = send(client, lms_headers, body)
        assert response.status_code in (200, 400, 409), response.text
        if response.status_code != 200:
            assert response.headers["content-type"] == "application/problem+json"

    check()


def test_unstorable_text_in_multipart_statements_is_400_and_stores_nothing(  # type: ignore[no-untyped-def]
    client, lms_headers, database
) -> None:
    """The text guard reads JSON bodies; statements inside multipart/mixed are checked when
    the body is split (a NUL in a name was a 500 on PostgreSQL)."""
    before = counts(database)
    for name in ("Ana\u0000Lima", "Ana \ud800"):
        body = multipart(statement(name=name, attachments=[attachment()]), [part()])
        response = send(client, lms_headers, body)
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["type"].endswith("/invalid-text")
        assert problem["errors"][0]["location"] == "part 1.actor.name"
    assert counts(database) == before
