"""Signed checkpoints of the audit chain: the head ``{seq, hash, at}`` as a JWT (DESIGN §6).

An auditor keeps checkpoints; later, an export plus a checkpoint is re-verified offline
(``credence audit verify``): any event edited, removed (even from the end), inserted or
reordered up to the checkpoint's seq is detected. Reading a checkpoint writes nothing (it would
move the head it describes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlmodel import Session

from credentials import GENESIS_HASH, checkpoint_claims, sign_jwt
from service.audit import repository as audit_repository
from service.audit.service import format_at
from service.db import utcnow
from service.keys.service import KeyRing
from service.settings import Settings


@dataclass(frozen=True)
class SignedCheckpoint:
    seq: int
    hash: str
    at: str | None
    jwt: str
    kid: str


def current_checkpoint(session: Session, settings: Settings, keyring: KeyRing) -> SignedCheckpoint:
    """The chain head now, signed with the active signing key."""
    head = audit_repository.head_event(session)
    seq, hash_, at = (head[0], head[1], format_at(head[2])) if head else (0, GENESIS_HASH, None)
    signer = keyring.active_signer(session)
    claims = checkpoint_claims(
        seq,
        hash_,
        at,
        issuer=settings.effective_issuer_id,
        issued_at=math.floor(utcnow().timestamp()),
    )
    return SignedCheckpoint(
        seq=seq, hash=hash_, at=at, jwt=sign_jwt(claims, signer), kid=signer.kid
    )
