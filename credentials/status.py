"""Status-list credentials (``BitstringStatusListCredential``) and status checkers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from credentials._encoding import EncodingError, format_datetime, parse_datetime
from credentials.errors import MisuseError, StatusCheckError, StatusListError
from credentials.jws import DEFAULT_LEEWAY, ResolveKey, sign_jwt, verify_jwt
from credentials.lint import VCDM2_CONTEXT
from credentials.model import StatusEntry, StatusPurpose
from credentials.signer import Signer
from credentials.signing import vc_jwt_claims
from credentials.status_list import StatusList
from credentials.verify import StatusChecker

__all__ = [
    "DecodedStatusList",
    "build_status_list_credential",
    "load_status_list",
    "make_status_checker",
    "sign_status_list_credential",
]


def build_status_list_credential(
    *,
    list_url: str,
    issuer_id: str,
    purpose: StatusPurpose,
    status_list: StatusList,
    valid_from: datetime,
    valid_until: datetime | None = None,
) -> dict[str, Any]:
    """Build a ``BitstringStatusListCredential`` (unsigned JSON).

    Args:
        list_url: the URL the list is served at; the credential ``id``.
        issuer_id: the issuer's id (same as in the credentials pointing here).
        purpose: ``revocation`` or ``suspension``.
        status_list: the bits.
        valid_from: when this snapshot was made (tz-aware).
        valid_until: when verifiers should fetch a fresh copy, if ever.
    """
    doc: dict[str, Any] = {
        "@context": [VCDM2_CONTEXT],
        "id": list_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id,
        "validFrom": format_datetime(valid_from),
    }
    if valid_until is not None:
        doc["validUntil"] = format_datetime(valid_until)
    doc["credentialSubject"] = {
        "id": f"{list_url}#list",
        "type": "BitstringStatusList",
        "statusPurpose": purpose,
        "encodedList": status_list.encode(),
    }
    return doc


def sign_status_list_credential(
    doc: Mapping[str, Any], signer: Signer, *, now: datetime | None = None
) -> str:
    """Sign a status-list credential as a JWT (``iss``, ``jti``, ``sub``, ``nbf``, ``exp``).

    Raises:
        StatusListError: ``doc`` is not a well-formed status-list credential.
    """
    _parse_status_list_doc(doc)
    return sign_jwt(vc_jwt_claims(doc, now=now), signer)


@dataclass(frozen=True, slots=True)
class DecodedStatusList:
    """A status list ready for lookups.

    Attributes:
        url: the list credential's ``id`` (what entries name in ``statusListCredential``).
        purposes: the status purposes the list serves.
        bits: the decoded bitstring.
        signed: True when it came from a verified JWT, False when taken as given (JSON).
        valid_until: end of the snapshot's validity, if stated.
    """

    url: str
    purposes: tuple[str, ...]
    bits: StatusList
    signed: bool
    valid_until: datetime | None = None


def _parse_status_list_doc(doc: Mapping[str, Any], *, signed: bool = True) -> DecodedStatusList:
    types = doc.get("type")
    if not isinstance(types, list) or "BitstringStatusListCredential" not in types:
        raise StatusListError("type must include 'BitstringStatusListCredential'")
    url = doc.get("id")
    if not isinstance(url, str) or not url:
        raise StatusListError("a status-list credential needs an 'id'")
    subject = doc.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("type") != "BitstringStatusList":
        raise StatusListError("credentialSubject must be a 'BitstringStatusList'")
    purpose = subject.get("statusPurpose")
    purposes = tuple(purpose) if isinstance(purpose, list) else (purpose,)
    if not purposes or not all(isinstance(p, str) and p for p in purposes):
        raise StatusListError("credentialSubject.statusPurpose must be a string")
    valid_until = None
    if "validUntil" in doc:
        try:
            valid_until = parse_datetime(doc["validUntil"])
        except EncodingError:
            raise StatusListError("validUntil is not an RFC 3339 date-time") from None
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise StatusListError("credentialSubject.encodedList must be a string")
    bits = StatusList.decode(encoded)
    return DecodedStatusList(url, purposes, bits, signed, valid_until)


def load_status_list(
    source: str | Mapping[str, Any],
    *,
    allowed_algorithms: Iterable[str] | None = None,
    resolve_key: ResolveKey | None = None,
    now: datetime | None = None,
    allow_unsigned: bool = False,
) -> DecodedStatusList:
    """Decode a status-list credential given as a compact JWT (verified) or as JSON.

    Args:
        source: the JWT string, or the decoded JSON credential.
        allowed_algorithms: needed for JWTs.
        resolve_key: needed for JWTs.
        now: checks the JWT's ``nbf``/``exp`` when given.
        allow_unsigned: accept JSON (not signature-checked; e.g. a file an auditor trusts).

    Raises:
        TokenError: the JWT does not verify.
        StatusListError: malformed list credential or encodedList.
        MisuseError: JSON without ``allow_unsigned``, or a JWT without key material.
    """
    if isinstance(source, str):
        if allowed_algorithms is None or resolve_key is None:
            raise MisuseError(
                "verifying a status-list JWT needs allowed_algorithms and resolve_key"
            )
        verified = verify_jwt(
            source.strip(),
            allowed_algorithms=allowed_algorithms,
            resolve_key=resolve_key,
            now=now,
            leeway=DEFAULT_LEEWAY,
        )
        return _parse_status_list_doc(verified.claims)
    if not allow_unsigned:
        raise MisuseError("an unsigned (JSON) status list needs allow_unsigned=True")
    return _parse_status_list_doc(source, signed=False)


def make_status_checker(
    lists: Iterable[DecodedStatusList], *, now: datetime | None = None
) -> StatusChecker:
    """Build a `StatusChecker` over decoded lists, matched by ``statusListCredential`` URL.

    The checker returns the entry's bit, ``None`` for a list it does not have, and raises
    `StatusCheckError` when the list's purpose differs from the entry's, the index is out of
    range, or (with ``now``) the list snapshot has expired.
    """
    by_url = {item.url: item for item in lists}

    def check(entry: StatusEntry) -> bool | None:
        found = by_url.get(entry.status_list_credential)
        if found is None:
            return None
        if entry.purpose not in found.purposes:
            raise StatusCheckError(
                f"status list {found.url} is for {'/'.join(found.purposes)}, not {entry.purpose}"
            )
        if entry.index >= len(found.bits):
            raise StatusCheckError(f"index {entry.index} is beyond the end of {found.url}")
        if now is not None and found.valid_until is not None and now >= found.valid_until:
            raise StatusCheckError(f"status list {found.url} expired at {found.valid_until}")
        return found.bits.get(entry.index)

    return check
