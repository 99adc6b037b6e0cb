"""Status-list slots: random free indexes, bit flips in the caller's transaction, signed lists."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from credentials import StatusEntry, StatusList, build_status_list_credential
from credentials import sign_status_list_credential as sign_list
from service.core.ids import INT32_MAX
from service.db import utcnow
from service.errors import NotFound
from service.keys.service import KeyRing
from service.models import StatusList as ListRow
from service.settings import Settings
from service.status import repository

LIST_SIZE = 131_072
# Lists are filled to half so a random free index is found in a try or two, and indexes stay
# spread out (a verifier fetching the list learns nothing from which bits are near each other).
FILL_LIMIT = LIST_SIZE // 2
PURPOSES = ("revocation", "suspension")


def list_url(settings: Settings, list_id: int) -> str:
    return f"{settings.base_url}/v1/status-lists/{list_id}"


def allocate_many(
    session: Session,
    settings: Settings,
    credential_ids: Sequence[str],
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> dict[str, list[StatusEntry]]:
    """One random free slot per purpose for each of ``credential_ids``: per list one
    ``idx IN (...)`` check, one multi-row insert in a savepoint (retried with fresh indexes if
    another transaction took one meanwhile) and one ``used`` update. Flushes."""
    entries: dict[str, list[StatusEntry]] = {cid: [] for cid in credential_ids}
    for purpose in PURPOSES:
        pending = list(credential_ids)
        while pending:
            status_list = repository.open_list(
                session, purpose, size=LIST_SIZE, fill_limit=FILL_LIMIT
            )
            assert status_list.id is not None
            take, pending = (
                pending[: FILL_LIMIT - status_list.used],
                pending[FILL_LIMIT - status_list.used :],
            )
            indexes = _claim(session, status_list, take, purpose, randbelow)
            repository.count_used(session, status_list, len(take))
            url = list_url(settings, status_list.id)
            for cid, index in zip(take, indexes, strict=True):
                entries[cid].append(
                    StatusEntry(status_list_credential=url, index=index, purpose=purpose)  # type: ignore[arg-type]
                )
    return entries


def _claim(
    session: Session,
    status_list: ListRow,
    credential_ids: Sequence[str],
    purpose: str,
    randbelow: Callable[[int], int],
) -> list[int]:
    """Free random indexes of ``status_list`` for ``credential_ids``, inserted."""
    assert status_list.id is not None
    for _attempt in range(64):
        chosen: set[int] = set()
        while len(chosen) < len(credential_ids):
            wanted = len(credential_ids) - len(chosen)
            candidates = {randbelow(status_list.size) for _ in range(wanted)} - chosen
            chosen |= candidates - repository.taken(session, status_list.id, candidates)
        indexes = list(chosen)
        rows = [
            {
                "list_id": status_list.id,
                "idx": index,
                "credential_id": cid,
                "purpose": purpose,
                "is_set": False,
            }
            for cid, index in zip(credential_ids, indexes, strict=True)
        ]
        try:
            with session.begin_nested():
                repository.insert_slots(session, rows)
        except IntegrityError:  # another transaction took one a moment ago: pick again
            continue
        return indexes
    raise RuntimeError("could not find free status-list indexes")  # pragma: no cover


def set_bit(session: Session, credential_id: str, purpose: str, value: bool) -> None:
    """Flip the credential's bit for ``purpose`` (same transaction as the status change)."""
    slot = repository.slot(session, credential_id, purpose)
    if slot is None:
        raise RuntimeError(f"credential {credential_id} has no {purpose} slot")
    if slot.is_set != value:
        repository.set_slot(session, slot, value)


@dataclass
class StatusListCache:
    """Signed list JWTs by (list, revision, signing key): re-signed only when a bit changed."""

    _entries: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    _documents: dict[int, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def document(
        self, session: Session, settings: Settings, keyring: KeyRing, list_id: int
    ) -> tuple[dict[str, Any], int]:
        """The list in its Data Integrity form: the credential the JWT carries, secured with
        an ``eddsa-rdfc-2022`` proof by the Ed25519 key (``created`` = its ``validFrom``), as
        Data Integrity status checkers (the DCC's) require; re-signed when a bit changed."""
        token, revision = self.get(session, settings, keyring, list_id)
        proof = keyring.proof_key(session)
        cached = self._documents.get(list_id)
        if cached and cached[0] == revision and cached[1] == proof.signer.kid:
            return cached[2], revision
        document = keyring.data_integrity(session, token)
        with self._lock:
            self._documents[list_id] = (revision, proof.signer.kid, document)
        return document, revision

    def get(
        self, session: Session, settings: Settings, keyring: KeyRing, list_id: int
    ) -> tuple[str, int]:
        # an id no INTEGER column holds names no list (not a driver error on PostgreSQL)
        status_list = repository.get_list(session, list_id) if 0 < list_id <= INT32_MAX else None
        if status_list is None:
            raise NotFound(f"No status list {list_id}.")
        signer = keyring.active_signer(session)
        cached = self._entries.get(list_id)
        if cached and cached[0] == status_list.revision and cached[1] == signer.kid:
            return cached[2], status_list.revision
        bits = StatusList(status_list.size)
        for index in repository.set_indexes(session, list_id):
            bits.set(index, True)
        doc = build_status_list_credential(
            list_url=list_url(settings, list_id),
            issuer_id=settings.effective_issuer_id,
            purpose=status_list.purpose,  # type: ignore[arg-type]
            status_list=bits,
            valid_from=utcnow(),
        )
        token = sign_list(doc, signer)
        with self._lock:
            self._entries[list_id] = (status_list.revision, signer.kid, token)
        return token, status_list.revision
