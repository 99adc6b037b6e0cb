"""The learners' queries: rows by id, multi-row writes, attribute history, search."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.models import Learner, LearnerAttributeChange

_LEARNERS = Learner.__table__  # type: ignore[attr-defined]
_CHANGES = LearnerAttributeChange.__table__  # type: ignore[attr-defined]
# Built once (SQLAlchemy works out a new statement's cache key on every execution).
_ROWS = sa_select(_LEARNERS).where(_LEARNERS.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_ROWS = insert(_LEARNERS)


def get(session: Session, learner_id: str, *, fresh: bool = False) -> Learner | None:
    """The learner; ``fresh`` re-reads it over what the session holds (after a write)."""
    return session.get(Learner, learner_id, populate_existing=fresh)


def rows(session: Session, learner_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The learners among ``learner_ids`` as plain rows, by id, in one query."""
    found = session.execute(_ROWS, {"ids": sorted(set(learner_ids))}).mappings()
    return {row["id"]: dict(row) for row in found}


def insert_rows(session: Session, learners: Sequence[Mapping[str, Any]]) -> None:
    session.execute(_INSERT_ROWS, list(learners))


def update_rows(
    session: Session, learners: Sequence[Mapping[str, Any]], fields: Sequence[str]
) -> None:
    """Set ``fields`` of each learner (every row has ``id`` and the fields), one statement."""
    session.execute(
        update(_LEARNERS)
        .where(_LEARNERS.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in fields}),
        [{f"b_{k}": row[k] for k in ("id", *fields)} for row in learners],
    )


def insert_attribute_changes(session: Session, changes: Sequence[Mapping[str, Any]]) -> None:
    session.execute(insert(_CHANGES), list(changes))


def attribute_history(session: Session, learner_id: str) -> list[LearnerAttributeChange]:
    """The learner's attribute changes in ``(changed_at, id)`` order."""
    query = (
        select(LearnerAttributeChange)
        .where(LearnerAttributeChange.learner_id == learner_id)
        .order_by(col(LearnerAttributeChange.changed_at), col(LearnerAttributeChange.id))
    )
    return list(session.exec(query))


def search(
    session: Session, *, filters: Mapping[str, str], after: str, limit: int
) -> list[Learner]:
    """Learners after ``after`` in id order whose attributes equal every filter."""
    query = select(Learner).where(col(Learner.id) > after)
    for name, value in filters.items():
        query = query.where(col(Learner.attributes)[name].as_string() == value)
    return list(session.exec(query.order_by(col(Learner.id)).limit(limit)))
