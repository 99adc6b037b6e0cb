"""Learners mentioned by a batch: loaded in one query, upserted in memory item by item with the
same rules as :func:`service.learners.service.upsert` (merged attributes, every change recorded
with its time), then written with multi-row statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from service.audit.service import EventSpec
from service.learners.schemas import LearnerRef
from service.learners.service import merge_attributes
from service.models import Learner, LearnerAttributeChange

_FIELDS = ("email", "name", "did")
_UPDATED = ("attributes", "revision", "updated_at")


class LearnerBook:
    """The batch's learners as rows (dicts), with what changed since they were loaded."""

    def __init__(self, session: Session, learner_ids: Iterable[str]) -> None:
        table = Learner.__table__  # type: ignore[attr-defined]
        ids = sorted(set(learner_ids))
        self.rows: dict[str, dict[str, Any]] = {
            row["id"]: dict(row)
            for row in session.execute(select(table).where(table.c.id.in_(ids))).mappings()
        }
        self.created: list[str] = []
        self.updated: set[str] = set()
        self.attribute_changes: list[dict[str, Any]] = []

    def subject_id(self, learner_id: str) -> str:
        """As :func:`service.learners.service.subject_id`, from the row as it stands now."""
        row = self.rows[learner_id]
        return str(row["did"] or f"urn:uuid:{row['subject_uuid']}")

    def mention(
        self, learner_id: str, details: LearnerRef | None, *, now: datetime, actor: str
    ) -> EventSpec | None:
        """Create or update the learner as an inline mention does; the audit event, if any."""
        row = self.rows.get(learner_id)
        created = row is None
        if row is None:
            row = self.rows[learner_id] = {
                "id": learner_id,
                "email": None,
                "name": None,
                "did": None,
                "subject_uuid": str(uuid.uuid4()),
                "attributes": {},
                "revision": 1,
                "created_at": now,
                "updated_at": now,
            }
            self.created.append(learner_id)
        changes: dict[str, Any] = {}
        for field in _FIELDS:
            value = getattr(details, field) if details else None
            if value is not None and row[field] != value:
                changes[field] = {"from": row[field], "to": value}
                row[field] = value
        attributes = details.attributes if details else None
        if attributes is not None:
            new, changed = merge_attributes(row["attributes"], attributes, replace=False)
            for key, change in changed.items():
                changes[f"attributes.{key}"] = change
                self.attribute_changes.append(
                    {
                        "learner_id": learner_id,
                        "name": key,
                        "value": change["to"],
                        "changed_at": now,
                    }
                )
            row["attributes"] = new
        if not created and not changes:
            return None
        row["updated_at"] = now
        if not created:
            row["revision"] += 1
            self.updated.add(learner_id)
        return EventSpec(
            actor=actor,
            action="learner.created" if created else "learner.updated",
            subject=f"learner:{learner_id}",
            data={"changes": changes},
        )

    def write(self, session: Session) -> None:
        """Insert the new learners, update the changed ones, store the attribute history."""
        table = Learner.__table__  # type: ignore[attr-defined]
        if self.created:
            session.execute(insert(table), [self.rows[i] for i in self.created])
        changed = sorted(self.updated - set(self.created))
        if changed:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    email=bindparam("b_email"),
                    name=bindparam("b_name"),
                    did=bindparam("b_did"),
                    attributes=bindparam("b_attributes"),
                    revision=bindparam("b_revision"),
                    updated_at=bindparam("b_updated_at"),
                ),
                [{f"b_{k}": self.rows[i][k] for k in (*_FIELDS, "id", *_UPDATED)} for i in changed],
            )
        if self.attribute_changes:
            session.execute(
                insert(LearnerAttributeChange.__table__),  # type: ignore[attr-defined]
                self.attribute_changes,
            )
