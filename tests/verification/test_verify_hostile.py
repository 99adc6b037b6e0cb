"""POST /v1/verify against junk: every kind of malformed or hostile input gets a 4xx problem or
a ``verified: false`` result naming the failed check, never a 5xx and never a hang."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from credentials import sign_jwt
from tests.conftest import Database, status_entries
from tests.verification.conftest import Demo, claims_of, header_of


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jose(header: Any, payload: Any, signature: bytes = b"\x00" * 64) -> str:
    def part(value: Any) -> str:
        return b64(value if isinstance(value, bytes | str) else json.dumps(value))

    return f"{part(header)}.{part(payload)}.{b64(signature)}"


class Ctx:
    """What a case may build on: a genuine token, its parts, and our signer (for tokens only the
    issuer could make: validly signed but malformed inside)."""

    def __init__(self, token: str, signer: Any, status_list: str) -> None:
        self.signer = signer
        self.token = token
        self.header = header_of(token)
        self.claims = claims_of(token)
        self.kid = self.header["kid"]
        self.status_list = status_list

    def sign(self, claims: Any) -> str:
        return sign_jwt(claims, self.signer)

    def sign_raw(self, payload: str) -> str:
        """Sign payload text as is (JSON that ``json.dumps`` would never write)."""
        head = b64(json.dumps({"alg": self.signer.alg, "kid": self.signer.kid, "typ": "JWT"}))
        signing_input = f"{head}.{b64(payload)}"
        return f"{signing_input}.{b64(self.signer.sign(signing_input.encode()))}"

    def without(self, claim: str) -> dict[str, Any]:
        return {k: v for k, v in self.claims.items() if k != claim}

    def with_claims(self, **changes: Any) -> dict[str, Any]:
        return {**self.claims, **changes}


Body = tuple[dict[str, str], bytes | Iterator[bytes]]


def text(value: str | bytes, media: str = "application/vc+jwt") -> Body:
    return {"Content-Type": media}, value.encode() if isinstance(value, str) else value


def as_json(raw: str | bytes) -> Body:
    return {"Content-Type": "application/json"}, raw.encode() if isinstance(raw, str) else raw


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // 8192 + 1):
        yield b"A" * 8192


# (name, builder, expected): expected is a status code for problems, or the name of the check
# that must fail in a 200 ``verified: false`` result.
CASES: list[tuple[str, Callable[[Ctx], Body], int | str]] = [
    ("empty body", lambda c: text(""), 400),
    ("whitespace only", lambda c: text(" \n\t "), 400),
    ("plain words", lambda c: text("hello, is this verified?"), "format"),
    ("two segments", lambda c: text("abc.def"), "format"),
    ("four segments", lambda c: text("a.b.c.d"), "format"),
    ("only dots", lambda c: text(".."), "format"),
    ("bad base64 characters", lambda c: text("!!!.###.$$$"), "format"),
    ("padded base64", lambda c: text(c.token.replace(".", "=.", 1)), "format"),
    ("header not JSON", lambda c: text(f"{b64('not json')}.{b64('{}')}.AAAA"), "format"),
    ("header is an array", lambda c: text(jose([1, 2], {})), "format"),
    ("header without alg", lambda c: text(jose({"kid": c.kid}, c.claims)), "format"),
    ("header without kid", lambda c: text(jose({"alg": "EdDSA"}, c.claims)), "format"),
    ("empty kid", lambda c: text(jose({"alg": "EdDSA", "kid": ""}, c.claims)), "format"),
    ("typ vc+jwt", lambda c: text(jose({**c.header, "typ": "vc+jwt"}, c.claims)), "format"),
    ("crit header", lambda c: text(jose({**c.header, "crit": ["exp"]}, c.claims)), "format"),
    (
        "embedded private jwk",
        lambda c: text(jose({**c.header, "jwk": {"kty": "OKP", "d": "AA"}}, c.claims)),
        "format",
    ),
    ("alg none", lambda c: text(jose({**c.header, "alg": "none"}, c.claims, b"")), "signature"),
    (
        "alg none with a signature",
        lambda c: text(jose({**c.header, "alg": "none"}, c.claims)),
        "signature",
    ),
    (
        "HS256 key confusion",
        lambda c: text(jose({**c.header, "alg": "HS256"}, c.claims)),
        "signature",
    ),
    (
        "RS256 on an Ed25519 key",
        lambda c: text(jose({**c.header, "alg": "RS256"}, c.claims)),
        "signature",
    ),
    (
        "ES256 on an Ed25519 key",
        lambda c: text(jose({**c.header, "alg": "ES256"}, c.claims)),
        "signature",
    ),
    (
        "unknown algorithm",
        lambda c: text(jose({**c.header, "alg": "PS512"}, c.claims)),
        "signature",
    ),
    (
        "unknown kid of ours",
        lambda c: text(jose({**c.header, "kid": c.kid.rsplit("/", 1)[0] + "/nope"}, c.claims)),
        "signature",
    ),
    (
        "kid elsewhere",
        lambda c: text(jose({**c.header, "kid": "https://evil.example/jwks.json#k"}, c.claims)),
        "signature",
    ),
    (
        "kid of 10 KB",
        lambda c: text(jose({**c.header, "kid": "k" * 10_000}, c.claims)),
        "signature",
    ),
    ("tampered payload", lambda c: text(jose(c.header, c.with_claims(name="Forged"))), "signature"),
    (
        "genuine signature on edited payload",
        lambda c: text(
            f"{c.token.split('.')[0]}.{b64(json.dumps(c.with_claims(name='x')))}"
            f".{c.token.split('.')[2]}"
        ),
        "signature",
    ),
    ("truncated signature", lambda c: text(c.token[:-10]), "signature"),
    ("signature of wrong length", lambda c: text(c.token + "AAAA"), "signature"),
    ("duplicate payload members", lambda c: text(jose(c.header, '{"a":1,"a":2}')), "format"),
    ("NaN in payload", lambda c: text(jose(c.header, '{"nbf":NaN}')), "format"),
    ("payload is a string", lambda c: text(jose(c.header, "just a string")), "format"),
    (
        "payload of 5000 digits",
        lambda c: text(jose(c.header, '{"nbf":' + "9" * 5000 + "}")),
        "format",
    ),
    ("payload nested 100k deep", lambda c: text(jose(c.header, "[" * 40_000)), "format"),
    ("payload nested 900 deep", lambda c: text(jose(c.header, "[" * 900 + "]" * 900)), "format"),
    (
        "credential nested 900 deep",
        lambda c: text(jose(c.header, '{"x":' + "[" * 900 + "]" * 900 + "}")),
        "issuer",
    ),
    ("not ASCII", lambda c: text("é.é.é".encode(), "text/plain"), "format"),
    ("invalid UTF-8", lambda c: text(b"\xff\xfe\x00.\x80.\x81", "text/plain"), "format"),
    ("NUL bytes", lambda c: text(b"\x00" * 100), "format"),
    ("token of 65,000 bytes", lambda c: text("A" * 65_000), "format"),
    (
        "JSON token over the token cap",
        lambda c: as_json(json.dumps({"credential": "A" * 65_600})),
        "format",
    ),
    ("body over the cap", lambda c: text("A" * 70_000), 413),
    ("body of 5 MB", lambda c: text("A" * 5_000_000), 413),
    (
        "streamed body over the cap",
        lambda c: ({"Content-Type": "text/plain"}, chunks(200_000)),
        413,
    ),
    ("JSON not valid", lambda c: as_json('{"credential": '), 400),
    ("JSON bomb", lambda c: as_json('{"credential": ' + "[" * 30_000), 400),
    ("JSON array", lambda c: as_json(json.dumps([c.token])), 422),
    ("JSON without credential", lambda c: as_json('{"jwt": "x"}'), 422),
    ("JSON credential null", lambda c: as_json('{"credential": null}'), 422),
    ("JSON credential number", lambda c: as_json('{"credential": 12}'), 422),
    # an object is the Data Integrity form: this one has no proof
    ("JSON credential object", lambda c: as_json(json.dumps({"credential": c.claims})), "format"),
    ("JSON credential empty", lambda c: as_json('{"credential": ""}'), 400),
    ("JSON with a 5000-digit number", lambda c: as_json('{"credential": ' + "9" * 5000 + "}"), 400),
    ("JSON in latin-1", lambda c: as_json('{"credential": "\xe9"}'.encode("latin-1")), 400),
    ("XML", lambda c: text("<credential/>", "application/xml"), 415),
    ("form upload", lambda c: text("credential=x", "multipart/form-data; boundary=x"), 415),
    ("status-list credential", lambda c: text(c.status_list), "schema"),
    # Validly signed by the issuer's key (only the issuer could make these) but broken inside:
    ("signed: nbf of 400 digits", lambda c: text(c.sign(c.with_claims(nbf=10**400))), "claims"),
    (
        "signed: exp 1e400",
        lambda c: text(c.sign_raw(json.dumps(c.without("exp"))[:-1] + ', "exp": 1e400}')),
        "claims",
    ),
    ("signed: iat a string", lambda c: text(c.sign(c.with_claims(iat="yesterday"))), "claims"),
    (
        "signed: validFrom garbage",
        lambda c: text(c.sign(c.with_claims(validFrom="soon"))),
        "claims",
    ),
    (
        "signed: status entry index huge",
        lambda c: text(
            c.sign(
                c.with_claims(
                    credentialStatus=[{**status_entries(c.claims)[0], "statusListIndex": "9" * 300}]
                )
            )
        ),
        "revocation",
    ),
    (
        "signed: status entry not ours",
        lambda c: text(
            c.sign(
                c.with_claims(
                    credentialStatus=[
                        {
                            **status_entries(c.claims)[0],
                            "statusListCredential": "https://evil.example/list",
                        }
                    ]
                )
            )
        ),
        "revocation",
    ),
    (
        "signed: status entry wrong purpose",
        lambda c: text(
            c.sign(
                c.with_claims(
                    credentialStatus=[
                        {**status_entries(c.claims)[0], "statusPurpose": "suspension"}
                    ]
                )
            )
        ),
        "suspension",
    ),
    (
        "signed: status is a string",
        lambda c: text(c.sign(c.with_claims(credentialStatus="revoked?"))),
        "schema",
    ),
    (
        "signed: subject a list",
        lambda c: text(c.sign(c.with_claims(credentialSubject=[1]))),
        "claims",
    ),
    ("signed: empty object", lambda c: text(c.sign({})), "issuer"),
    (
        "signed: no claims but our issuer",
        lambda c: text(c.sign({"issuer": c.claims["issuer"], "iss": c.claims["iss"]})),
        "claims",
    ),
    (
        "signed: deep nesting",
        lambda c: text(c.sign(c.with_claims(evidence=json.loads("[" * 500 + "]" * 500)))),
        "schema",
    ),
]


@pytest.fixture
def ctx(demo: Demo, app: FastAPI, database: Database) -> Ctx:
    _, token = demo.earn("ana")
    with Session(database.engine) as session:
        signer = app.state.issuer.keyring.active_signer(session)
    url = status_entries(claims_of(token))[0]["statusListCredential"]
    status_list = demo.client.get(url.removeprefix("https://credence.test")).text
    return Ctx(token, signer, status_list)


def test_the_table_covers_thirty_kinds_of_junk() -> None:
    assert len({name for name, _, _ in CASES}) == len(CASES) >= 30


def test_every_kind_of_junk_gets_a_4xx_or_a_named_failed_check(demo: Demo, ctx: Ctx) -> None:
    outcomes = {}
    for name, build, expected in CASES:
        headers, content = build(ctx)
        started = time.perf_counter()
        response = demo.client.post("/v1/verify", content=content, headers=headers)
        elapsed = time.perf_counter() - started
        assert elapsed < 3, f"{name}: took {elapsed:.1f}s"
        if isinstance(expected, int):
            outcome: Any = response.status_code
            if response.status_code == expected:
                assert response.headers["content-type"] == "application/problem+json", name
                assert response.json()["status"] == expected
        else:
            assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
            body = response.json()
            failed = [c["check"] for c in body["checks"] if c["status"] == "failed"]
            outcome = failed[0] if failed and body["verified"] is False else body
        outcomes[name] = outcome
    assert outcomes == {name: expected for name, _, expected in CASES}


def test_the_genuine_token_still_verifies_after_the_junk(demo: Demo, ctx: Ctx) -> None:
    for _, build, _ in CASES[:20]:
        headers, content = build(ctx)
        demo.client.post("/v1/verify", content=content, headers=headers)
    assert demo.verify(ctx.token)["verified"] is True
