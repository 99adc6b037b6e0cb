"""Verify a VC-JWT with this issuer's keys (active and retired) and its live status bits.

:class:`Verifier` lives once per process, built with the app's engine (``create_app`` or its
lifespan) and handed to the route as ``VerifierDep`` (:mod:`service.verification.deps`). Per
request it runs the library's `credentials.verify` with a ``prepare`` hook that reads the
named key and the credential's status slots in one statement
(:class:`~.repository.VerifyStore`), then adds the ``issuer`` check: a token from another
issuer is a ``verified: false`` result naming it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from credentials import (
    Check,
    ResolvedKey,
    StatusCheckError,
    StatusEntry,
    VerificationResult,
    check_recipient,
    key_id_url,
    thumbprint_of_kid,
    verify,
    verify_document,
)
from service.db import utcnow
from service.errors import ServiceUnavailable
from service.keys.service import issuer_base
from service.settings import Settings
from service.verification.repository import MAX_SLOTS, Found, VerifyStore

ALGORITHMS = frozenset({"EdDSA", "ES256", "RS256"})
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_TOKEN_BYTES = 64 * 1024


_CREDENTIAL_ID = re.compile(
    r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_RECORDED = "this issuer's records; the credential publishes no suspension entry"


class StorageUnavailable(ServiceUnavailable):
    type = "verification-unavailable"
    title = "Verification is unavailable"


class _Request:
    """One verification: what ``prepare`` fetched, answered to the library's callbacks."""

    __slots__ = ("found", "verifier")

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier
        self.found = Found(None, {})

    def prepare(self, header: Mapping[str, Any], payload: Mapping[str, Any]) -> None:
        verifier = self.verifier
        kid = header.get("kid")
        thumbprint = verifier.thumbprint(kid) if isinstance(kid, str) else None
        slots = []
        entries = _entries(payload.get("credentialStatus"))
        for entry in entries:
            slot = verifier.slot_of(entry)
            if slot is not None:
                slots.append(slot)
        # A credential that does not publish its suspension entry (the default) is still
        # suspended here: read its own slot (by an id of the form this issuer gives).
        credential_id = payload.get("id")
        recorded = (
            credential_id
            if isinstance(credential_id, str)
            and _CREDENTIAL_ID.fullmatch(credential_id)
            and not any(e.get("statusPurpose") == "suspension" for e in entries)
            else None
        )
        try:
            self.found = verifier.store.lookup(
                thumbprint, slots[:MAX_SLOTS], suspension_of=recorded
            )
        except Exception as exc:  # the database, not the token: a 503, never a verdict
            raise StorageUnavailable("Verification cannot read its keys right now.") from exc

    def resolve(self, kid: str) -> ResolvedKey | None:
        key = self.found.key
        if key is None or self.verifier.thumbprint(kid) is None:
            return None
        return ResolvedKey(jwk=key.jwk, compromised_at=key.compromised_at)

    def check_status(self, entry: StatusEntry) -> bool:
        url = entry.status_list_credential
        slot = self.verifier.slot_of({"statusListCredential": url, "statusListIndex": entry.index})
        if slot is None:
            raise StatusCheckError(f"{url} is not a status list of this issuer")
        row = self.found.slots.get(slot)
        if row is None:
            raise StatusCheckError(f"index {entry.index} of {url} is not assigned to a credential")
        if row.purpose != entry.purpose:
            raise StatusCheckError(f"{url} is a {row.purpose} list, not {entry.purpose}")
        return row.is_set


def _entries(value: object) -> list[Mapping[str, Any]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items[: MAX_SLOTS * 2] if isinstance(item, dict)]


class Verifier:
    """The process's verifier (see the module docstring)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.store = VerifyStore(engine)
        self.issuer_id = settings.effective_issuer_id
        base = issuer_base(settings)
        self.issuer_base = base
        self.kid_prefix = key_id_url(base, "<thumbprint>").removesuffix("<thumbprint>")
        self.list_prefix = f"{settings.base_url}/v1/status-lists/"

    def thumbprint(self, kid: str) -> str | None:
        """The key thumbprint of a header kid of this issuer, None for any other kid."""
        thumbprint = thumbprint_of_kid(self.issuer_base, kid)  # earlier kid forms too
        if thumbprint is None:
            return None
        # base64url only: anything else (a NUL, a surrogate) names no key and never reaches SQL
        return thumbprint if _THUMBPRINT.fullmatch(thumbprint) else None

    def slot_of(self, entry: Mapping[str, Any]) -> tuple[int, int] | None:
        """(list id, index) of a status entry naming one of this issuer's lists, else None."""
        url, index = entry.get("statusListCredential"), entry.get("statusListIndex")
        if not isinstance(url, str) or not url.startswith(self.list_prefix):
            return None
        list_id = url[len(self.list_prefix) :]
        if isinstance(index, str) and index.isascii() and index.isdigit() and len(index) < 10:
            index = int(index)
        if not (list_id.isascii() and list_id.isdigit() and len(list_id) < 10):
            return None
        if type(index) is not int or not 0 <= index < 2**31:
            return None
        return int(list_id), index

    def verify(
        self, token: str | bytes, now: datetime | None = None, *, recipient: str | None = None
    ) -> dict[str, Any]:
        """Verify ``token`` (and, when given, that it was issued to ``recipient``, an email
        address); return the response body ``{verified, checks, credential}``."""
        request = _Request(self)
        result = verify(
            token,
            allowed_algorithms=ALGORITHMS,
            resolve_key=request.resolve,
            now=now or utcnow(),
            check_status=request.check_status,
            max_token_bytes=MAX_TOKEN_BYTES,
            prepare=request.prepare,
        )
        result = self._recorded_suspension(result, request.found)
        return self._shape(check_recipient(result, recipient) if recipient else result)

    def verify_document(
        self, document: object, now: datetime | None = None, *, recipient: str | None = None
    ) -> dict[str, Any]:
        """Verify a credential in its Data Integrity form; the same response body and checks."""
        request = _Request(self)
        result = verify_document(
            document,
            resolve_key=request.resolve,
            now=now or utcnow(),
            check_status=request.check_status,
            prepare=request.prepare,
        )
        result = self._recorded_suspension(result, request.found)
        return self._shape(check_recipient(result, recipient) if recipient else result)

    @staticmethod
    def _recorded_suspension(result: VerificationResult, found: Found) -> VerificationResult:
        """Report the suspension this issuer records for a credential that publishes no
        suspension entry (once its signature is ours)."""
        slot = found.suspension
        if slot is None or result.check("signature").status != "ok":
            return result
        if result.check("suspension").status != "skipped":
            return result
        check = (
            Check("suspension", "failed", f"suspended ({_RECORDED})")
            if slot.is_set
            else Check("suspension", "ok", f"not suspended ({_RECORDED})")
        )
        checks = tuple(check if c.name == "suspension" else c for c in result.checks)
        verified = result.verified and check.status == "ok"
        return dataclasses.replace(result, checks=checks, verified=verified)

    def _issuer_check(self, result: VerificationResult) -> tuple[str, str]:
        payload = result.payload
        if payload is None:
            return "skipped", "not reached"
        issuer = payload.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        claimed = payload.get("iss", issuer_id)
        if claimed != self.issuer_id or issuer_id != self.issuer_id:
            shown = json.dumps(claimed)[:200]
            return "failed", f"issued by {shown}, not by this service's issuer {self.issuer_id}"
        name = issuer.get("name") if isinstance(issuer, dict) else None
        return "ok", f"issued by {name} ({self.issuer_id})" if name else f"issued by {claimed}"

    def _shape(self, result: VerificationResult) -> dict[str, Any]:
        issuer_status, issuer_detail = self._issuer_check(result)
        checks = []
        for check in result.checks:
            detail = check.reason
            if check.name == "signature" and check.status == "failed" and result.header:
                kid = result.header.get("kid")
                if isinstance(kid, str) and self.thumbprint(kid) is None:
                    detail = (
                        f"key {json.dumps(kid)[:200]} is not one of this issuer's keys "
                        f"(they are {self.kid_prefix}<thumbprint>)"
                    )
            checks.append(
                {
                    "check": check.name,
                    "ok": check.status == "ok",
                    "status": check.status,
                    "detail": detail,
                }
            )
            if check.name == "format":
                checks.append(
                    {
                        "check": "issuer",
                        "ok": issuer_status == "ok",
                        "status": issuer_status,
                        "detail": issuer_detail,
                    }
                )
        return {
            "verified": result.verified and issuer_status == "ok",
            "checks": checks,
            "credential": result.credential,
        }
