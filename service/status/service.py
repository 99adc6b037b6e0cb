"""Status-list slots: random free indexes, bit flips in the caller's transaction, signed lists."""

from __future__ import annotations

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    """:func:`claim_many`, counted at once: the entries by credential id. Flushes."""
    claimed = claim_many(session, settings, credential_ids, randbelow=randbelow)
    claimed.count(session)
    return claimed.entries


@dataclass
class Claimed:
    """Slots inserted whose lists' ``used`` is not counted yet: :meth:`count` does, late in the
    transaction, as the update locks the list rows (every issuer's) until commit."""

    entries: dict[str, list[StatusEntry]]
    lists: list[ListRow] = field(default_factory=list)
    added: Counter[int] = field(default_factory=Counter)

    def count(self, session: Session) -> None:
        if self.added:
            repository.count_used(session, self.lists, self.added)
            self.lists, self.added = [], Counter()


def claim_many(
    session: Session,
    settings: Settings,
    credential_ids: Sequence[str],
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> Claimed:
    """One random free slot per purpose for each of ``credential_ids``, in two statements when
    the open lists have room: the open lists of both purposes read at once, and one multi-row
    insert that skips indexes another transaction holds (``ON CONFLICT DO NOTHING``; those
    items pick again). The lists' ``used`` is counted by the caller (:meth:`Claimed.count`),
    except when a list fills up on the way (then at once, so the next pass sees it full)."""
    claimed = Claimed({cid: [] for cid in credential_ids})
    wanted = {purpose: list(credential_ids) for purpose in PURPOSES}
    while any(wanted.values()):
        claimed.count(session)
        purposes = [p for p in PURPOSES if wanted[p]]
        lists = repository.open_lists(session, purposes, size=LIST_SIZE, fill_limit=FILL_LIMIT)
        claims: list[_Claim] = []
        for purpose in purposes:
            status_list = lists[purpose]
            room = FILL_LIMIT - status_list.used
            take, wanted[purpose] = wanted[purpose][:room], wanted[purpose][room:]
            claims += [_Claim(status_list, purpose, cid) for cid in take]
        _claim(session, claims, randbelow)
        claimed.lists += [lists[p] for p in purposes]
        claimed.added.update(c.list_id for c in claims)
        for claim in claims:
            url = list_url(settings, claim.list_id)
            claimed.entries[claim.credential_id].append(
                StatusEntry(status_list_credential=url, index=claim.index, purpose=claim.purpose)  # type: ignore[arg-type]
            )
    for entries in claimed.entries.values():  # revocation first, whichever pass claimed it
        entries.sort(key=lambda e: PURPOSES.index(e.purpose))
    return claimed


@dataclass(eq=False)
class _Claim:
    status_list: ListRow
    purpose: str
    credential_id: str
    index: int = -1

    @property
    def list_id(self) -> int:
        assert self.status_list.id is not None
        return self.status_list.id


def _claim(session: Session, claims: Sequence[_Claim], randbelow: Callable[[int], int]) -> None:
    """Free random indexes for ``claims`` (distinct within each list), inserted; an index
    another transaction took meanwhile is skipped by the insert and picked again."""
    pending = list(claims)
    for _attempt in range(64):
        chosen: dict[tuple[int, int], _Claim] = {}
        for claim in pending:
            while True:
                key = (claim.list_id, randbelow(claim.status_list.size))
                if key not in chosen:
                    break
            chosen[key] = claim
            claim.index = key[1]
        rows = [
            {
                "list_id": list_id,
                "idx": index,
                "credential_id": claim.credential_id,
                "purpose": claim.purpose,
                "is_set": False,
            }
            for (list_id, index), claim in chosen.items()
        ]
        inserted = repository.insert_free_slots(session, rows)
        pending = [claim for key, claim in chosen.items() if key not in inserted]
        if not pending:
            return
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
