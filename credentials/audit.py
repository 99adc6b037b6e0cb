"""The audit hash chain: canonical JSON, the per-event hash, and offline chain verification.

``hash = SHA-256(prev_hash || canonical JSON of the event)`` where the event is
``{seq, at, actor, action, subject, data}``. The first event's ``prev_hash`` is
:data:`GENESIS_HASH`. Any edited, removed, inserted or reordered event breaks the chain at
that event; removing events from the end is caught by comparing the head with a signed
checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64


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
class ChainVerification:
    """Outcome of :func:`verify_chain`; ``first_bad_seq`` names the first event that fails."""

    ok: bool
    count: int
    head_seq: int | None
    head_hash: str
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)


def verify_chain(
    records: Iterable[AuditRecord], *, start_prev_hash: str = GENESIS_HASH, start_seq: int = 1
) -> ChainVerification:
    """Recompute the chain; stop at the first event whose seq, link or hash is wrong."""
    prev_hash = start_prev_hash
    expected_seq = start_seq
    count = 0
    head_seq: int | None = None
    for record in records:
        problem = None
        if record.seq != expected_seq:
            problem = f"event {record.seq}: expected seq {expected_seq} (missing or reordered)"
        elif record.prev_hash != prev_hash:
            problem = f"event {record.seq}: prev_hash does not link to the event before it"
        elif chain_hash(prev_hash, record.body()) != record.hash:
            problem = f"event {record.seq}: content does not match its hash (edited)"
        if problem is not None:
            return ChainVerification(
                ok=False,
                count=count,
                head_seq=head_seq,
                head_hash=prev_hash,
                first_bad_seq=record.seq,
                problems=[problem],
            )
        prev_hash = record.hash
        head_seq = record.seq
        expected_seq += 1
        count += 1
    return ChainVerification(ok=True, count=count, head_seq=head_seq, head_hash=prev_hash)
