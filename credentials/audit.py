"""The audit hash chain: canonical JSON, the per-event hash, and offline chain verification.

``hash = SHA-256(prev_hash || canonical JSON of the event)`` where the event is
``{seq, at, actor, action, subject, data}``. The first event's ``prev_hash`` is
:data:`GENESIS_HASH`. Any edited, removed, inserted or reordered event breaks the chain at
that event; removing events from the end is caught by comparing the head with a signed
checkpoint: a JWT over ``{seq, hash, at}`` of the head (see `checkpoint_claims` and
`verify_checkpoint`), which `verify_chain` checks the records against.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from credentials.errors import TokenError
from credentials.jws import ResolveKey, verify_jwt

GENESIS_HASH = "0" * 64
CHECKPOINT_TYPE = "AuditCheckpoint"
"""The ``type`` claim of a checkpoint JWT (so it is never mistaken for another signed document)."""


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, no NaN/Infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_body(
    seq: int, at: str, actor: str, action: str, subject: str, data: Mapping[str, Any]
) -> dict[str, Any]:
    """The part of an audit event that is hashed (``at`` is an RFC 3339 UTC string)."""
    return {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "subject": subject,
        "data": dict(data),
    }


def chain_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """SHA-256 hex of ``prev_hash`` (hex text) followed by the canonical JSON of ``body``."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(body))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One exported audit event, as written by the service (JSON lines)."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> AuditRecord:
        """Build a record from a decoded JSON object; raises ValueError when a field is off."""
        try:
            record = cls(
                seq=int(raw["seq"]),
                at=str(raw["at"]),
                actor=str(raw["actor"]),
                action=str(raw["action"]),
                subject=str(raw["subject"]),
                data=dict(raw["data"]),
                prev_hash=str(raw["prev_hash"]),
                hash=str(raw["hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an audit event: {exc}") from exc
        return record

    def body(self) -> dict[str, Any]:
        return event_body(self.seq, self.at, self.actor, self.action, self.subject, self.data)

    def to_mapping(self) -> dict[str, Any]:
        return {**self.body(), "prev_hash": self.prev_hash, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the chain head: "event ``seq`` has hash ``hash``".

    Attributes:
        seq: the head's seq (0 for an empty chain).
        hash: the head's hash (`GENESIS_HASH` for an empty chain).
        at: the head event's ``at`` (RFC 3339), None for an empty chain.
        issuer: who signed it (``iss``).
        issued_at: when it was signed (``iat``, seconds).
    """

    seq: int
    hash: str
    at: str | None
    issuer: str | None = None
    issued_at: int | None = None


def checkpoint_claims(
    seq: int, hash_: str, at: str | None, *, issuer: str, issued_at: int
) -> dict[str, Any]:
    """The JWT claims of a checkpoint; sign them with `sign_jwt`."""
    return {
        "iss": issuer,
        "iat": issued_at,
        "type": CHECKPOINT_TYPE,
        "seq": seq,
        "hash": hash_,
        "at": at,
    }


def _checkpoint_from_claims(claims: Mapping[str, Any]) -> Checkpoint:
    seq, hash_, at = claims.get("seq"), claims.get("hash"), claims.get("at")
    if claims.get("type") != CHECKPOINT_TYPE:
        raise TokenError("claims", f"not an audit checkpoint (type is not {CHECKPOINT_TYPE!r})")
    if type(seq) is not int or seq < 0:
        raise TokenError("claims", "checkpoint seq must be a non-negative integer")
    if not isinstance(hash_, str) or len(hash_) != 64:
        raise TokenError("claims", "checkpoint hash must be 64 hex characters")
    if at is not None and not isinstance(at, str):
        raise TokenError("claims", "checkpoint at must be a string or null")
    issuer, issued_at = claims.get("iss"), claims.get("iat")
    return Checkpoint(
        seq=seq,
        hash=hash_,
        at=at,
        issuer=issuer if isinstance(issuer, str) else None,
        issued_at=issued_at if type(issued_at) is int else None,
    )


def verify_checkpoint(
    token: str,
    *,
    allowed_algorithms: Iterable[str],
    resolve_key: ResolveKey,
    expected_issuer: str | None = None,
) -> Checkpoint:
    """Verify a checkpoint JWT's signature and claims and return what it states.

    With ``expected_issuer``, a checkpoint whose ``iss`` is another issuer is refused.

    Raises:
        TokenError: malformed token, bad signature, unknown key, claims that are not a
            checkpoint, or another issuer than ``expected_issuer``.
        MisuseError: unsafe ``allowed_algorithms``.
    """
    verified = verify_jwt(
        token.strip(), allowed_algorithms=allowed_algorithms, resolve_key=resolve_key
    )
    checkpoint = _checkpoint_from_claims(verified.claims)
    if expected_issuer is not None and checkpoint.issuer != expected_issuer:
        raise TokenError(
            "claims",
            f"signed by {checkpoint.issuer!r}, not by the expected issuer {expected_issuer!r}",
        )
    return checkpoint


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """Outcome of :func:`verify_chain`; ``first_bad_seq`` names the first event that fails.

    ``checkpoint_seq`` is set when a checkpoint was given and matched; ``after_checkpoint``
    counts the events newer than it (present in the export, not covered by the signature).
    """

    ok: bool
    count: int
    head_seq: int | None
    head_hash: str
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)
    checkpoint_seq: int | None = None
    after_checkpoint: int = 0


def verify_chain(
    records: Iterable[AuditRecord],
    *,
    start_prev_hash: str = GENESIS_HASH,
    start_seq: int = 1,
    checkpoint: Checkpoint | None = None,
) -> ChainVerification:
    """Recompute the chain; stop at the first event whose seq, link or hash is wrong.

    With a ``checkpoint`` the records must also reach its ``seq`` with its ``hash``: events
    removed from the end, or a history rewritten consistently up to the head, are reported.
    """
    prev_hash = start_prev_hash
    expected_seq = start_seq
    count = 0
    head_seq: int | None = None
    matched = False

    def failed(seq: int, problem: str) -> ChainVerification:
        return ChainVerification(
            ok=False,
            count=count,
            head_seq=head_seq,
            head_hash=prev_hash,
            first_bad_seq=seq,
            problems=[problem],
        )

    for record in records:
        problem = None
        where = f"event {record.seq} (record {count + 1})"
        if record.seq != expected_seq:
            problem = f"{where}: expected seq {expected_seq} (removed, inserted or reordered)"
        elif record.prev_hash != prev_hash:
            problem = f"{where}: prev_hash does not link to the event before it"
        elif chain_hash(prev_hash, record.body()) != record.hash:
            problem = f"{where}: content does not match its hash (edited)"
        elif checkpoint is not None and record.seq == checkpoint.seq:
            if record.hash != checkpoint.hash:
                problem = (
                    f"{where}: hash {record.hash[:12]}... differs from the signed "
                    f"checkpoint's {checkpoint.hash[:12]}... (history rewritten up to here)"
                )
            matched = True
        if problem is not None:
            return failed(record.seq, problem)
        prev_hash = record.hash
        head_seq = record.seq
        expected_seq += 1
        count += 1
    if checkpoint is None:
        return ChainVerification(ok=True, count=count, head_seq=head_seq, head_hash=prev_hash)
    if checkpoint.seq == start_seq - 1:  # the checkpoint of an empty chain
        matched = checkpoint.hash == start_prev_hash
        if not matched:
            return failed(checkpoint.seq, "the signed checkpoint does not match the chain start")
    if not matched:
        first_missing = expected_seq
        return failed(
            first_missing,
            f"events {first_missing}..{checkpoint.seq} are missing: the signed checkpoint "
            f"covers the chain up to seq {checkpoint.seq}",
        )
    return ChainVerification(
        ok=True,
        count=count,
        head_seq=head_seq,
        head_hash=prev_hash,
        checkpoint_seq=checkpoint.seq,
        after_checkpoint=count - (checkpoint.seq - start_seq + 1),
    )
