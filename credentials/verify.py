"""Verify OB 3.0 VC-JWTs: every check reported, invalid credentials are results."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple, TypeAlias

from credentials._encoding import EncodingError, parse_datetime
from credentials.errors import (
    DataIntegrityError,
    KeyFormatError,
    LintError,
    MisuseError,
    StatusCheckError,
)
from credentials.jws import (
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_BYTES,
    Invalid,
    ResolvedKey,
    ResolveKey,
    check_allowed_algorithms,
    check_signature,
    jwt_claim_names,
    load_public_key,
    numeric_date,
    parse_compact,
)
from credentials.lint import lint_credential
from credentials.model import StatusEntry, StatusPurpose

__all__ = [
    "CHECK_NAMES",
    "Check",
    "CheckOutcome",
    "Prepare",
    "StatusChecker",
    "VerificationResult",
    "check_recipient",
    "verify",
    "verify_document",
]

CHECK_NAMES = ("format", "signature", "claims", "validity", "revocation", "suspension", "schema")
"""The checks `verify` reports, in order."""

CheckOutcome: TypeAlias = Literal["ok", "failed", "skipped"]

StatusChecker: TypeAlias = Callable[[StatusEntry], bool | None]
"""``check_status(entry)`` -> True if the entry's bit is set, False if clear, None if unknown.

May raise `StatusCheckError` when the list is present but cannot be trusted (bad signature,
wrong purpose, index out of range); `verify` reports that as a failed check.
"""

Prepare: TypeAlias = Callable[[Mapping[str, Any], Mapping[str, Any]], None]
"""``prepare(header, payload)``: called once with the decoded (not yet verified) header and
payload before any ``resolve_key``/``check_status`` call, so a caller backed by a database can
fetch the key and every status bit in one round trip. Treat both arguments as untrusted input.
"""

_REQUIRED_OK = frozenset({"format", "signature", "claims", "validity", "schema"})
_ZERO = timedelta(0)


class Check(NamedTuple):
    """The outcome of one verification check (an immutable named tuple).

    Attributes:
        name: one of `CHECK_NAMES`.
        status: ``ok``, ``failed`` or ``skipped``.
        reason: plain-words explanation.
    """

    name: str
    status: CheckOutcome
    reason: str

    def to_json(self) -> dict[str, str]:
        """Return ``{"name", "status", "reason"}``."""
        return {"name": self.name, "status": self.status, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """What `verify` found.

    Attributes:
        verified: True when format, signature, claims, validity and schema are ``ok`` and no
            check failed (revocation/suspension may be ``skipped`` when not checkable).
        checks: every check in `CHECK_NAMES` order.
        credential: the credential (payload without JWT registered claims), or None when
            the token could not be decoded.
        payload: the full JWT payload, or None.
        header: the JOSE header, or None.
    """

    verified: bool
    checks: tuple[Check, ...]
    credential: dict[str, Any] | None
    payload: dict[str, Any] | None
    header: dict[str, Any] | None

    def check(self, name: str) -> Check:
        """Return the check called ``name``."""
        for item in self.checks:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def complete(self) -> bool:
        """True when no check was skipped."""
        return all(item.status != "skipped" for item in self.checks)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready summary (``verified``, ``checks``, ``header``, ``credential``)."""
        return {
            "verified": self.verified,
            "checks": [item.to_json() for item in self.checks],
            "header": self.header,
            "credential": self.credential,
        }


_NOT_REACHED = "not reached"
_OK: Literal["ok"] = "ok"


def _result(
    checks: list[Check], payload: dict[str, Any] | None, header: dict[str, Any] | None
) -> VerificationResult:
    # ``checks`` is built in CHECK_NAMES order; pad whatever was not reached.
    for name in CHECK_NAMES[len(checks) :]:
        checks.append(Check(name, "skipped", _NOT_REACHED))
    verified = True
    for check in checks:
        if check.status == "failed" or (check.status != _OK and check.name in _REQUIRED_OK):
            verified = False
            break
    credential = None
    if payload is not None:
        names = jwt_claim_names()
        credential = {k: v for k, v in payload.items() if k not in names}
    return VerificationResult(verified, tuple(checks), credential, payload, header)


def verify(
    token: str | bytes,
    *,
    allowed_algorithms: Iterable[str],
    resolve_key: ResolveKey,
    now: datetime,
    check_status: StatusChecker | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    prepare: Prepare | None = None,
    expected_issuer: str | None = None,
) -> VerificationResult:
    """Verify an OB 3.0 VC-JWT and report each check.

    Checks, in order: ``format`` (size cap, compact JWS, strict base64url/JSON, header only
    ``alg``/``kid``/``typ: JWT``), ``signature`` (allow-listed algorithm, known kid, key type
    matching the algorithm, key not compromised for this token, valid signature), ``claims``
    (``iss``/``jti``/``sub``/``nbf``/``exp`` agree with the body, and ``iss`` is
    ``expected_issuer`` when given), ``validity`` (``now`` within
    validFrom..validUntil, with ``leeway``), ``revocation`` and ``suspension`` (status-list bits
    through ``check_status``) and ``schema`` (`lint_credential`, verifying profile). After a
    failed format or signature check the remaining checks are skipped.

    Args:
        token: the compact JWT.
        allowed_algorithms: e.g. ``{"EdDSA", "ES256", "RS256"}``.
        resolve_key: ``kid`` -> `ResolvedKey` / public JWK / None.
        now: the time to verify at (tz-aware).
        check_status: see `StatusChecker`; when None, status checks are skipped.
        leeway: clock-skew tolerance for the validity period.
        max_token_bytes: tokens above this size fail the format check unparsed.
        prepare: see `Prepare`; called only when the format check passed.
        expected_issuer: the issuer the caller trusts the key source for; a token naming
            another issuer fails the ``claims`` check. Pass it whenever the keys were not
            chosen for one issuer alone (a key found through the token's own claims, or a
            key set shared by several issuers).

    Returns:
        A `VerificationResult`; an invalid credential never raises.

    Raises:
        MisuseError: empty/unsafe ``allowed_algorithms``, naive ``now``, negative leeway.
    """
    allowed = check_allowed_algorithms(allowed_algorithms)
    if now.utcoffset() is None:
        raise MisuseError("now must be a timezone-aware datetime")
    if leeway < _ZERO:
        raise MisuseError("leeway must not be negative")
    try:
        parsed = parse_compact(token, max_token_bytes)
    except Invalid as exc:
        return _result([Check("format", "failed", exc.reason)], None, None)
    header, payload = parsed.header, parsed.payload
    checks = [Check("format", _OK, f"compact JWS, {header['alg']}, kid {header['kid']}")]
    if prepare is not None:
        prepare(header, payload)
    try:
        check_signature(parsed, allowed, resolve_key)
    except Invalid as exc:
        checks.append(Check("signature", "failed", exc.reason))
        checks.extend(Check(name, "skipped", "signature not verified") for name in CHECK_NAMES[2:])
        return _result(checks, payload, header)
    checks.append(Check("signature", _OK, f"{header['alg']} signature by {header['kid']}"))
    dates = _dates(payload)
    checks.append(_check_claims(payload, dates, expected_issuer))
    checks.extend(_content_checks(payload, dates, now, leeway, check_status))
    return _result(checks, payload, header)


def _content_checks(
    credential: Mapping[str, Any],
    dates: _Dates,
    now: datetime,
    leeway: timedelta,
    check_status: StatusChecker | None,
) -> list[Check]:
    """What both forms check once the signature holds: validity, revocation, suspension and
    structure."""
    checks = [_check_validity(credential, dates, now, leeway)]
    entries, entry_error = _status_entries(credential.get("credentialStatus"))
    checks.append(_check_status("revocation", entries, entry_error, check_status))
    checks.append(_check_status("suspension", entries, entry_error, check_status))
    try:
        lint_credential(credential, strict=False)
        checks.append(Check("schema", _OK, "OB 3.0 OpenBadgeCredential structure"))
    except LintError as exc:
        checks.append(Check("schema", "failed", str(exc)))
    return checks


def verify_document(
    document: object,
    *,
    resolve_key: ResolveKey,
    now: datetime,
    check_status: StatusChecker | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    prepare: Prepare | None = None,
    expected_issuer: str | None = None,
) -> VerificationResult:
    """Verify an OB 3.0 credential secured with an ``eddsa-rdfc-2022`` Data Integrity proof
    (the JSON-LD form of the same credential `verify` checks as a VC-JWT); the same checks.

    ``format``: a JSON object with one ``eddsa-rdfc-2022`` proof whose terms every pinned
    context defines. ``signature``: ``resolve_key(proof.verificationMethod)`` names an Ed25519
    key (JWK or `ResolvedKey`) that signed the canonical form, not compromised at the proof's
    ``created``. ``claims``: the issuer is ``expected_issuer`` when given, and ``id`` is
    present. ``validity``, ``revocation``, ``suspension`` and ``schema`` as in `verify`.
    ``prepare`` is called as ``prepare({"kid": verificationMethod}, document)``.

    Returns:
        A `VerificationResult` whose ``header`` is the proof without its ``proofValue``
        (None when the document could not be read); an invalid credential never raises.
    """
    from credentials.data_integrity import verify_data_integrity

    if now.utcoffset() is None:
        raise MisuseError("now must be a timezone-aware datetime")
    if leeway < _ZERO:
        raise MisuseError("leeway must not be negative")
    if not isinstance(document, dict):
        return _result(
            [Check("format", "failed", "the credential is not a JSON object")], None, None
        )
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw]
    method = next((p.get("verificationMethod") for p in proofs if isinstance(p, dict)), None)
    if prepare is not None and isinstance(method, str):
        prepare({"kid": method}, document)
    resolved: dict[str, ResolvedKey] = {}

    def ed25519_key(url: str) -> Any:
        found = resolve_key(url)
        if found is None:
            return None
        entry = found if isinstance(found, ResolvedKey) else ResolvedKey(jwk=found)
        try:
            key_alg, key = load_public_key(entry.jwk)
        except KeyFormatError:
            return None
        if key_alg != "EdDSA":
            return None
        resolved[url] = entry
        return key

    try:
        proof = verify_data_integrity(document, resolve_key=ed25519_key)
    except RecursionError:
        return _result(
            [Check("format", "failed", "the credential is nested too deeply")], None, None
        )
    except DataIntegrityError as exc:
        stage = "signature" if exc.check in ("key", "signature") else "format"
        checks = [Check("format", "ok", "JSON-LD credential with an eddsa-rdfc-2022 proof")]
        if stage == "format":
            checks = [Check("format", "failed", exc.reason)]
            return _result(checks, None, None)
        checks.append(Check("signature", "failed", exc.reason))
        checks.extend(Check(name, "skipped", "signature not verified") for name in CHECK_NAMES[2:])
        return _result(checks, dict(document), None)
    header = {k: v for k, v in proof.items() if k != "proofValue"}
    method = str(proof["verificationMethod"])
    checks = [Check("format", _OK, f"JSON-LD credential, eddsa-rdfc-2022 proof by {method}")]
    compromised_at = resolved[method].compromised_at
    if compromised_at is not None:
        try:
            created = parse_datetime(proof.get("created"))
        except EncodingError:
            created = None
        if created is None or created >= compromised_at:
            checks.append(
                Check(
                    "signature",
                    "failed",
                    f"key {method!r} was compromised at {compromised_at.isoformat()}; this "
                    "proof was created at or after that time (or carries no created time)",
                )
            )
            checks.extend(
                Check(name, "skipped", "signature not verified") for name in CHECK_NAMES[2:]
            )
            return _result(checks, dict(document), header)
    checks.append(Check("signature", _OK, f"eddsa-rdfc-2022 proof by {method}"))
    dates = _dates(document)
    checks.append(_document_claims(document, expected_issuer))
    checks.extend(_content_checks(document, dates, now, leeway, check_status))
    return _result(checks, dict(document), header)


def _document_claims(document: Mapping[str, Any], expected_issuer: str | None) -> Check:
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if not isinstance(issuer_id, str):
        return Check("claims", "failed", "the credential names no issuer id")
    if expected_issuer is not None and issuer_id != expected_issuer:
        return Check("claims", "failed", f"issuer {issuer_id!r} is not {expected_issuer!r}")
    if not isinstance(document.get("id"), str):
        return Check("claims", "failed", "the credential has no id")
    return Check("claims", "ok", f"issuer {issuer_id}, id {document['id']}")


def check_recipient(result: VerificationResult, recipient: str) -> VerificationResult:
    """``result`` with a ``recipient`` check appended: was the credential issued to
    ``recipient``, an email address? It matches an ``emailAddress`` ``IdentityObject`` in
    ``credentialSubject.identifier``: hashed (``sha256$`` + hex SHA-256 of the address and the
    salt) or plain, the address compared in lower case (Credence hashes it so). Skipped when
    the credential could not be read; ``verified`` also needs this check to pass.
    """
    wanted = recipient.strip().lower()
    credential = result.credential or {}
    subject = credential.get("credentialSubject")
    subjects = subject if isinstance(subject, list) else [subject]
    identities: list[Mapping[str, Any]] = []
    for one in subjects:
        listed = one.get("identifier") if isinstance(one, dict) else None
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and item.get("identityType") == "emailAddress":
                identities.append(item)
    if result.credential is None:
        check = Check("recipient", "skipped", _NOT_REACHED)
    elif not identities:
        check = Check("recipient", "failed", "the credential names no email recipient")
    elif any(_identity_matches(item, wanted) for item in identities):
        check = Check("recipient", _OK, f"issued to {recipient.strip()}")
    else:
        check = Check("recipient", "failed", f"not issued to {recipient.strip()}")
    verified = result.verified and check.status == _OK
    return dataclasses.replace(result, checks=(*result.checks, check), verified=verified)


def _identity_matches(identity: Mapping[str, Any], wanted: str) -> bool:
    value = identity.get("identityHash")
    if not isinstance(value, str):
        return False
    if identity.get("hashed") is not True:
        return value.strip().lower() == wanted
    salt = identity.get("salt") if isinstance(identity.get("salt"), str) else ""
    algorithm, _, digest = value.partition("$")
    if algorithm.lower() != "sha256":
        return False
    computed = hashlib.sha256((wanted + str(salt)).encode()).hexdigest()
    return hmac.compare_digest(computed, digest.lower())


_Dates: TypeAlias = tuple[datetime, datetime | None] | None


def _dates(payload: Mapping[str, Any]) -> _Dates:
    try:
        start = parse_datetime(payload.get("validFrom"))
        end = parse_datetime(payload["validUntil"]) if "validUntil" in payload else None
    except EncodingError:
        return None
    return start, end


def _check_claims(payload: Mapping[str, Any], dates: _Dates, expected_issuer: str | None) -> Check:
    def failed(reason: str) -> Check:
        return Check("claims", "failed", reason)

    issuer = payload.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if "iss" not in payload or payload["iss"] != issuer_id:
        return failed(f"iss {payload.get('iss')!r} does not match issuer id {issuer_id!r}")
    if expected_issuer is not None and payload["iss"] != expected_issuer:
        return failed(
            f"issued by {payload['iss']!r}, not by the expected issuer {expected_issuer!r}"
        )
    if "jti" not in payload or payload["jti"] != payload.get("id"):
        return failed(f"jti {payload.get('jti')!r} does not match id {payload.get('id')!r}")
    subject = payload.get("credentialSubject")
    if not isinstance(subject, dict):
        return failed("credentialSubject is not an object")
    if payload.get("sub") != subject.get("id"):
        return failed(f"sub {payload.get('sub')!r} does not match credentialSubject.id")
    for claim in ("nbf", "exp", "iat"):
        value = payload.get(claim)
        if value is not None and numeric_date(value) is None:
            return failed(f"{claim} is not a NumericDate")
    if dates is None:
        return failed("validFrom/validUntil is not an RFC 3339 date-time")
    start, end = dates
    nbf, exp = payload.get("nbf"), payload.get("exp")
    if nbf is None:
        return failed("nbf is required (it mirrors validFrom)")
    if math.floor(nbf) != math.floor(start.timestamp()):
        return failed(f"nbf {nbf} does not match validFrom {payload['validFrom']}")
    if (exp is None) != (end is None):
        return failed("exp must be present exactly when validUntil is")
    if end is not None and exp is not None and math.floor(exp) != math.floor(end.timestamp()):
        return failed(f"exp {exp} does not match validUntil {payload['validUntil']}")
    if expected_issuer is not None:
        return Check(
            "claims",
            "ok",
            f"issued by the expected issuer {expected_issuer}; "
            "iss, jti, sub, nbf and exp agree with the credential",
        )
    return Check("claims", "ok", "iss, jti, sub, nbf and exp agree with the credential")


def _check_validity(
    payload: Mapping[str, Any], dates: _Dates, now: datetime, leeway: timedelta
) -> Check:
    if dates is None:
        return Check("validity", "failed", "validFrom/validUntil is not an RFC 3339 date-time")
    start, end = dates
    if now < start - leeway:
        return Check("validity", "failed", f"not valid yet: valid from {payload['validFrom']}")
    if end is not None and now >= end + leeway:
        return Check("validity", "failed", f"expired: valid until {payload['validUntil']}")
    until = f"until {payload['validUntil']}" if end is not None else "with no expiry"
    return Check("validity", "ok", f"valid from {payload['validFrom']} {until}")


def _status_entries(value: object) -> tuple[list[StatusEntry], str | None]:
    if value is None:
        return [], None
    items = value if isinstance(value, list) else [value]
    entries: list[StatusEntry] = []
    for item in items:
        if not isinstance(item, dict) or item.get("type") != "BitstringStatusListEntry":
            continue
        purpose, index, url = (
            item.get("statusPurpose"),
            item.get("statusListIndex"),
            item.get("statusListCredential"),
        )
        if isinstance(index, str) and index.isascii() and index.isdigit():
            index = int(index)
        if type(index) is not int or index < 0 or not isinstance(url, str):
            return [], "malformed BitstringStatusListEntry"
        if purpose in ("revocation", "suspension"):
            entries.append(StatusEntry(status_list_credential=url, index=index, purpose=purpose))
    return entries, None


def _check_status(
    purpose: StatusPurpose,
    entries: list[StatusEntry],
    entry_error: str | None,
    check_status: StatusChecker | None,
) -> Check:
    if entry_error is not None:
        return Check(purpose, "failed", entry_error)
    mine = [entry for entry in entries if entry.purpose == purpose]
    if not mine:
        return Check(purpose, "skipped", f"the credential has no {purpose} status entry")
    if check_status is None:
        return Check(purpose, "skipped", f"no status list given to check {purpose}")
    word = "revoked" if purpose == "revocation" else "suspended"
    for entry in mine:
        try:
            bit = check_status(entry)
        except StatusCheckError as exc:
            return Check(purpose, "failed", str(exc))
        if bit is None:
            return Check(
                purpose, "skipped", f"status list {entry.status_list_credential} not available"
            )
        if bit:
            return Check(
                purpose,
                "failed",
                f"{word}: bit {entry.index} is set in {entry.status_list_credential}",
            )
    return Check(purpose, "ok", f"not {word} (bit clear in {mine[0].status_list_credential})")
