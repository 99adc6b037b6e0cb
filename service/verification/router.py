"""Public verification: ``POST /v1/verify``, the ``/verify`` page and the did:web document;
plus the signed audit checkpoint (scope ``audit:read``).

``POST /v1/verify`` is ``async def`` and reads its body itself (capped, before any parsing), so
junk of any size or shape is refused cheaply: a 4xx problem for what is not a submission at
all, a ``verified: false`` result naming the failed check for anything that is.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.deps import AuditReadDep, SessionDep, SettingsDep
from service.errors import BadRequest, InvalidInput, NotFound, PayloadTooLarge, problem_responses
from service.keys import service as keys
from service.keys.deps import KeyRingDep
from service.verification.checkpoint import current_checkpoint
from service.verification.deps import VerifierDep
from service.verification.page import verify_page
from service.verification.schemas import CheckpointPublic, VerificationPublic, VerifyRequest
from service.verification.service import MAX_TOKEN_BYTES

router = APIRouter(tags=["verification"])

MAX_BODY_BYTES = MAX_TOKEN_BYTES + 1024  # a JSON envelope around the largest accepted token
TOKEN_TYPES = frozenset({"application/vc+jwt", "application/jwt", "text/plain"})
DOCUMENT_TYPES = frozenset({"application/vc", "application/vc+ld+json", "application/ld+json"})


class UnsupportedMediaType(BadRequest):
    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"


class MalformedBody(BadRequest):
    type = "malformed-body"
    title = "The request body is not valid JSON"


def _malformed(exc: BaseException) -> MalformedBody:
    reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
    return MalformedBody(f"The body is not valid JSON: {reason}.")


async def _read_capped(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise PayloadTooLarge(f"A verification request is limited to {MAX_BODY_BYTES} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"A verification request is limited to {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        raise _malformed(exc) from None


def _recipient(value: object, location: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 320:
        raise InvalidInput(
            "recipient must be an email address (a string of at most 320 characters).",
            errors=[{"location": location, "message": "not an email address", "type": "string"}],
        )
    return value


def _credential_from_json(body: bytes) -> tuple[str | dict[str, Any], str | None]:
    doc = _json(body)
    if not isinstance(doc, dict) or "credential" not in doc:
        raise InvalidInput(
            'Send {"credential": "<compact JWT>"} or {"credential": {<Data Integrity '
            "credential>}} (or the bare JWT as application/vc+jwt, the bare JSON-LD credential "
            "as application/vc).",
            errors=[
                {"location": "body.credential", "message": "Field required", "type": "missing"}
            ],
        )
    credential = doc["credential"]
    recipient = _recipient(doc.get("recipient"), "body.recipient")
    if isinstance(credential, dict):
        return credential, recipient
    if not isinstance(credential, str):
        raise InvalidInput(
            "credential must be a compact VC-JWT (a string) or a Data Integrity credential "
            "(an object).",
            errors=[
                {"location": "body.credential", "message": "not a string or object", "type": "type"}
            ],
        )
    return credential, recipient


async def _submitted(request: Request) -> tuple[str | bytes | dict[str, Any], str | None]:
    """The submitted credential: a compact JWT (str/bytes) or a JSON-LD document (dict); and
    the recipient to check, if asked (``recipient`` in the JSON body, else the query)."""
    body = await _read_capped(request)
    recipient = _recipient(request.query_params.get("recipient"), "query.recipient")
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not media_type:  # no Content-Type: tell JSON from a bare token by its first byte
        media_type = "application/json" if body.lstrip()[:1] == b"{" else "text/plain"
    if media_type in DOCUMENT_TYPES:
        document = _json(body)
        if not isinstance(document, dict):
            raise InvalidInput(f"A {media_type} body must be one JSON-LD credential object.")
        return document, recipient
    if media_type == "application/json" or media_type.endswith("+json"):
        submitted: str | bytes | dict[str, Any]
        submitted, in_body = _credential_from_json(body)
        recipient = in_body or recipient
        if isinstance(submitted, dict):
            return submitted, recipient
    elif media_type in TOKEN_TYPES:
        submitted = body
    else:
        raise UnsupportedMediaType(
            f"Send the credential as application/vc+jwt or text/plain (the compact JWT), as "
            f"application/vc (the Data Integrity credential), or as application/json "
            f'{{"credential": "<jwt>" or {{...}}}}; got {media_type[:100]!r}.'
        )
    token = submitted.strip()
    if not token:
        raise BadRequest("The body is empty: send the credential as a compact JWT.")
    return token, recipient


_BODY_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "recipient",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "maxLength": 320},
            "description": "An email address: adds a `recipient` check that the credential was "
            "issued to it (or send `recipient` in the JSON body)",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/vc+jwt": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/vc": {"schema": {"type": "object"}},
            "application/json": {"schema": VerifyRequest.model_json_schema()},
        },
    },
}


@router.post(
    "/v1/verify",
    operation_id="verifyCredential",
    response_model=VerificationPublic,
    responses=problem_responses(400, 413, 415, 422, 503),
    openapi_extra=_BODY_DOC,
)
async def verify_credential(request: Request, verifier: VerifierDep) -> Response:
    """Verify a credential (public): signature with this issuer's keys (active and retired),
    issuer, claims, dates, live revocation and suspension bits, and structure. An invalid
    credential is a 200 with `verified: false` and the failed checks; the body is capped at
    65 KiB. Either form (VC-JWT or Data Integrity); with `recipient` (an email address) a
    `recipient` check says whether it was issued to that person."""
    submitted, recipient = await _submitted(request)
    if isinstance(submitted, dict):  # JSON-LD processing: off the event loop
        body = await run_in_threadpool(verifier.verify_document, submitted, recipient=recipient)
    else:
        body = verifier.verify(submitted, recipient=recipient)
    try:
        content = json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:  # an unpaired surrogate (a \ud800 escape) from the token's JSON
        content = _ascii_json(body)  # escaped as it came: still JSON, never a 500
    except (RecursionError, ValueError):  # a decoded credential too deep to write back
        content = _ascii_json({**body, "credential": None})
    return Response(content, media_type="application/json")


def _ascii_json(body: dict[str, Any]) -> bytes:
    try:
        return json.dumps(body).encode()
    except (RecursionError, ValueError):
        return json.dumps({**body, "credential": None}).encode()


@router.get("/verify", include_in_schema=False)
async def verify_page_html() -> Response:
    """A page where a person pastes a credential and reads the checks in words."""
    html, headers = verify_page()
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


@router.get(
    "/.well-known/did.json",
    operation_id="getDidDocument",
    responses=problem_responses(
        404, extra={200: {"content": {"application/did+ld+json": {"schema": {"type": "object"}}}}}
    ),
)
def get_did_document(session: SessionDep, settings: SettingsDep) -> Response:
    """The did:web DID document with the same keys as the JWKS (404 unless the issuer id is a
    did:web DID)."""
    document = keys.did_document(session, settings)
    if document is None:
        raise NotFound("The issuer is not a did:web DID; its keys are at /.well-known/jwks.json.")
    return Response(
        json.dumps(document),
        media_type="application/did+ld+json",
        headers={"Cache-Control": "public, max-age=60"},
    )


@router.get(
    "/v1/audit/checkpoint",
    operation_id="getAuditCheckpoint",
    tags=["audit"],
    responses=problem_responses(401, 403, 503),
)
def get_audit_checkpoint(
    session: SessionDep, settings: SettingsDep, keyring: KeyRingDep, _: AuditReadDep
) -> CheckpointPublic:
    """The head of the audit chain `{seq, hash, at}` and a JWT of it signed with the issuer's
    key; keep it to hold the issuer to this history (`credence audit verify`)."""
    signed = current_checkpoint(session, settings, keyring)
    return CheckpointPublic(
        seq=signed.seq, hash=signed.hash, at=signed.at, jwt=signed.jwt, kid=signed.kid
    )
