"""The status lists' queries: open lists, slots taken and claimed, bits, revisions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from service.db import utcnow
from service.models import StatusList as ListRow
from service.models import StatusSlot


def open_list(session: Session, purpose: str, *, size: int, fill_limit: int) -> ListRow:
    """The oldest list of ``purpose`` filled below ``fill_limit``, or a new one (flushed)."""
    query = (
        select(ListRow)
        .where(ListRow.purpose == purpose, col(ListRow.used) < fill_limit)
        .order_by(col(ListRow.id))
        .limit(1)
    )
    found = session.exec(query).first()
    if found is None:
        found = ListRow(purpose=purpose, size=size, used=0, created_at=utcnow())
        session.add(found)
        session.flush()
    return found


def taken(session: Session, list_id: int, indexes: Iterable[int]) -> set[int]:
    """Which of ``indexes`` already have a slot in the list."""
    query = select(StatusSlot.idx).where(
        StatusSlot.list_id == list_id,
        col(StatusSlot.idx).in_(bindparam("indexes", expanding=True)),
    )
    return set(session.exec(query, params={"indexes": sorted(indexes)}))


def insert_slots(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(StatusSlot.__table__), list(rows))  # type: ignore[attr-defined]


def count_used(session: Session, status_list: ListRow, added: int) -> None:
    """Add ``added`` to the list's ``used`` (in the database, not from the copy read)."""
    session.execute(
        update(ListRow).where(col(ListRow.id) == status_list.id).values(used=ListRow.used + added)
    )
    session.expire(status_list, ["used"])


def slot(session: Session, credential_id: str, purpose: str) -> StatusSlot | None:
    query = select(StatusSlot).where(
        StatusSlot.credential_id == credential_id, StatusSlot.purpose == purpose
    )
    return session.exec(query).first()


def set_slot(session: Session, slot: StatusSlot, value: bool) -> None:
    """Set the slot's bit and bump its list's revision (flushes)."""
    slot.is_set = value
    session.add(slot)
    session.execute(
        update(ListRow).where(col(ListRow.id) == slot.list_id).values(revision=ListRow.revision + 1)
    )
    session.flush()


def get_list(session: Session, list_id: int) -> ListRow | None:
    return session.get(ListRow, list_id)


def set_indexes(session: Session, list_id: int) -> list[int]:
    """The indexes whose bit is set in the list."""
    query = select(StatusSlot.idx).where(StatusSlot.list_id == list_id, col(StatusSlot.is_set))
    return list(session.exec(query))
