"""The status lists' queries: open lists, slots taken and claimed, bits, revisions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from service.db import utcnow
from service.models import StatusList as ListRow
from service.models import StatusSlot

# Built once (SQLAlchemy works out a new statement's cache key on every execution).
_OPEN_LISTS = (
    select(ListRow)
    .where(
        col(ListRow.purpose).in_(bindparam("purposes", expanding=True)),
        col(ListRow.used) < bindparam("fill_limit"),
    )
    .order_by(col(ListRow.id))
)
_COUNT_USED = (
    update(ListRow)
    .where(col(ListRow.id) == bindparam("list_id"))
    .values(used=ListRow.used + bindparam("added"))
    # the rows read are expired after it: no need for the ORM to evaluate the UPDATE against
    # every object in the session (that cost more than the statement)
    .execution_options(synchronize_session=False)
)
_FREE_SLOTS = (
    sqlite_insert(StatusSlot.__table__)  # type: ignore[attr-defined]
    .on_conflict_do_nothing(index_elements=["list_id", "idx"])
    .returning(col(StatusSlot.list_id), col(StatusSlot.idx))
)
# PostgreSQL: the rows as five arrays in one short statement. As the multi-row VALUES that
# SQLAlchemy makes of an insert of many rows with RETURNING, a batch's 666 slots were one
# statement of 3,330 parameters, which psycopg parses again on every execution (it keeps the
# parsing of statements up to 4 KB only): a tenth of a 999-completion batch's time.
_FREE_SLOTS_ARRAYS = text(
    "INSERT INTO status_slot (list_id, idx, credential_id, purpose, is_set) "
    "SELECT * FROM unnest(CAST(:list_ids AS INTEGER[]), CAST(:indexes AS INTEGER[]), "
    "CAST(:credential_ids AS VARCHAR[]), CAST(:purposes AS VARCHAR[]), "
    "CAST(:bits AS BOOLEAN[])) "
    "ON CONFLICT (list_id, idx) DO NOTHING RETURNING list_id, idx"
)


def open_lists(
    session: Session, purposes: Sequence[str], *, size: int, fill_limit: int
) -> dict[str, ListRow]:
    """For each of ``purposes``, the oldest list filled below ``fill_limit``, or a new one
    (flushed): one statement when every purpose has one."""
    found: dict[str, ListRow] = {}
    params = {"purposes": list(purposes), "fill_limit": fill_limit}
    for row in session.exec(_OPEN_LISTS, params=params):
        found.setdefault(row.purpose, row)
    missing = [p for p in purposes if p not in found]
    for purpose in missing:
        found[purpose] = ListRow(purpose=purpose, size=size, used=0, created_at=utcnow())
        session.add(found[purpose])
    if missing:
        session.flush()
    return found


def insert_free_slots(session: Session, rows: Sequence[dict[str, Any]]) -> set[tuple[int, int]]:
    """Insert the slots whose (list, index) no other row holds; the (list, index) inserted.
    An index held by a transaction still open is waited for, then skipped if it commits."""
    if session.get_bind().dialect.name == "postgresql":
        columns = {
            "list_ids": [row["list_id"] for row in rows],
            "indexes": [row["idx"] for row in rows],
            "credential_ids": [row["credential_id"] for row in rows],
            "purposes": [row["purpose"] for row in rows],
            "bits": [row["is_set"] for row in rows],
        }
        result = session.execute(_FREE_SLOTS_ARRAYS, columns)
    else:
        result = session.execute(_FREE_SLOTS, list(rows))
    return {(row[0], row[1]) for row in result}


def count_used(session: Session, lists: Sequence[ListRow], added: Mapping[int, int]) -> None:
    """Add ``added[list id]`` to each list's ``used`` (in the database, not from the copy read),
    one list at a time in id order: every issuer locks these rows until commit, and in one
    order no two wait for each other (one ``UPDATE`` of both rows, even with its rows picked
    ``ORDER BY id FOR UPDATE``, deadlocked under concurrent single completions)."""
    for list_id in sorted(added):
        session.execute(_COUNT_USED, {"list_id": list_id, "added": added[list_id]})
    for status_list in lists:
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
