"""Status-list slots: random free indexes, bit flips in the caller's transaction, signed lists."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from credentials import StatusEntry, StatusList, build_status_list_credential
from credentials import sign_status_list_credential as sign_list
from service.core.ids import INT32_MAX
from service.db import utcnow
from service.errors import NotFound
from service.keys.service import KeyRing
from service.models import StatusList as ListRow
from service.models import StatusSlot
from service.settings import Settings

LIST_SIZE = 131_072
# Lists are filled to half so a random free index is found in a try or two, and indexes stay
# spread out (a verifier fetching the list learns nothing from which bits are near each other).
FILL_LIMIT = LIST_SIZE // 2
PURPOSES = ("revocation", "suspension")


def list_url(settings: Settings, list_id: int) -> str:
    return f"{settings.base_url}/v1/status-lists/{list_id}"


def _open_list(session: Session, purpose: str) -> ListRow:
    query = (
        select(ListRow)
        .where(ListRow.purpose == purpose, col(ListRow.used) < FILL_LIMIT)
        .order_by(col(ListRow.id))
        .limit(1)
    )
    found = session.exec(query).first()
    if found is None:
        found = ListRow(purpose=purpose, size=LIST_SIZE, used=0, created_at=utcnow())
        session.add(found)
        session.flush()
    return found


def allocate(session: Session, settings: Settings, credential_id: str) -> list[StatusEntry]:
    """One random free slot per purpose for ``credential_id`` (flushes; retries collisions)."""
    entries = []
    for purpose in PURPOSES:
        status_list = _open_list(session, purpose)
        assert status_list.id is not None
        for _attempt in range(64):
            index = secrets.randbelow(status_list.size)
            taken = session.exec(
                select(StatusSlot.id).where(
                    StatusSlot.list_id == status_list.id, StatusSlot.idx == index
                )
            ).first()
            if taken is not None:
                continue
            try:
                with session.begin_nested():
                    session.add(
                        StatusSlot(
                            list_id=status_list.id,
                            idx=index,
                            credential_id=credential_id,
                            purpose=purpose,
                            is_set=False,
                        )
                    )
            except IntegrityError:  # another transaction took it a moment ago
                continue
            break
        else:  # pragma: no cover - 64 collisions in a half-full list is astronomically unlikely
            raise RuntimeError("could not find a free status-list index")
        session.execute(
            update(ListRow).where(col(ListRow.id) == status_list.id).values(used=ListRow.used + 1)
        )
        entries.append(
            StatusEntry(
                status_list_credential=list_url(settings, status_list.id),
                index=index,
                purpose=purpose,  # type: ignore[arg-type]
            )
        )
    return entries


def allocate_many(
    session: Session,
    settings: Settings,
    credential_ids: Sequence[str],
    *,
    randbelow: Callable[[int], int] = secrets.randbelow,
) -> dict[str, list[StatusEntry]]:
    """:func:`allocate` for many credentials: per list one ``idx IN (...)`` check, one
    multi-row insert in a savepoint (retried with fresh indexes if another transaction took one
    meanwhile) and one ``used`` update. Flushes."""
    entries: dict[str, list[StatusEntry]] = {cid: [] for cid in credential_ids}
    for purpose in PURPOSES:
        pending = list(credential_ids)
        while pending:
            status_list = _open_list(session, purpose)
            assert status_list.id is not None
            take, pending = (
                pending[: FILL_LIMIT - status_list.used],
                pending[FILL_LIMIT - status_list.used :],
            )
            indexes = _claim(session, status_list, take, purpose, randbelow)
            session.execute(
                update(ListRow)
                .where(col(ListRow.id) == status_list.id)
                .values(used=ListRow.used + len(take))
            )
            session.expire(status_list, ["used"])
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
    table = StatusSlot.__table__  # type: ignore[attr-defined]
    for _attempt in range(64):
        chosen: set[int] = set()
        while len(chosen) < len(credential_ids):
            wanted = len(credential_ids) - len(chosen)
            candidates = {randbelow(status_list.size) for _ in range(wanted)} - chosen
            taken = set(
                session.exec(
                    select(StatusSlot.idx).where(
                        StatusSlot.list_id == status_list.id,
                        col(StatusSlot.idx).in_(bindparam("indexes", expanding=True)),
                    ),
                    params={"indexes": sorted(candidates)},
                )
            )
            chosen |= candidates - taken
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
                session.execute(insert(table), rows)
        except IntegrityError:  # another transaction took one a moment ago: pick again
            continue
        return indexes
    raise RuntimeError("could not find free status-list indexes")  # pragma: no cover


def set_bit(session: Session, credential_id: str, purpose: str, value: bool) -> None:
    """Flip the credential's bit for ``purpose`` (same transaction as the status change)."""
    slot = session.exec(
        select(StatusSlot).where(
            StatusSlot.credential_id == credential_id, StatusSlot.purpose == purpose
        )
    ).first()
    if slot is None:
        raise RuntimeError(f"credential {credential_id} has no {purpose} slot")
    if slot.is_set == value:
        return
    slot.is_set = value
    session.add(slot)
    session.execute(
        update(ListRow).where(col(ListRow.id) == slot.list_id).values(revision=ListRow.revision + 1)
    )
    session.flush()


@dataclass
class StatusListCache:
    """Signed list JWTs by (list, revision, signing key): re-signed only when a bit changed."""

    _entries: dict[int, tuple[int, str, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(
        self, session: Session, settings: Settings, keyring: KeyRing, list_id: int
    ) -> tuple[str, int]:
        # an id no INTEGER column holds names no list (not a driver error on PostgreSQL)
        status_list = session.get(ListRow, list_id) if 0 < list_id <= INT32_MAX else None
        if status_list is None:
            raise NotFound(f"No status list {list_id}.")
        signer = keyring.active_signer(session)
        cached = self._entries.get(list_id)
        if cached and cached[0] == status_list.revision and cached[1] == signer.kid:
            return cached[2], status_list.revision
        bits = StatusList(status_list.size)
        set_indexes = session.exec(
            select(StatusSlot.idx).where(StatusSlot.list_id == list_id, col(StatusSlot.is_set))
        )
        for index in set_indexes:
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
