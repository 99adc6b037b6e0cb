"""The one rule for writing learners. A request loads the learners it touches in one query,
changes them in memory in order (:meth:`LearnerBook.change`: only the fields given change,
attributes merged or replaced, every attribute change kept with its time, one audit event per
learner created or changed), then writes them with multi-row statements
(:meth:`LearnerBook.write`). ``PUT /v1/learners/{id}`` is a book of one; a batch of completions
mentions its learners in one book."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from service.audit.service import EventSpec
from service.learners import repository
from service.learners.schemas import LearnerRef

_FIELDS = ("email", "name", "did", "public_profile")
_UPDATED = ("attributes", "revision", "updated_at")


def merge_attributes(
    current: Mapping[str, Any], given: Mapping[str, str | None], *, replace: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The attribute set after a change and what changed, by name (``{"from", "to"}``).

    ``replace`` (PUT) makes ``given`` the whole set; otherwise it is merged in (an inline
    mention). A ``None`` value removes the attribute; removals are changes ``to: None``.
    """
    old = dict(current)
    new = {**({} if replace else old), **given}
    new = {k: v for k, v in new.items() if v is not None}
    changed = {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }
    return new, changed


class LearnerBook:
    """The request's learners as rows (dicts), with what changed since they were loaded. Load
    it under the learners' locks (``lock_learners``): two first mentions of one learner at once
    must not both insert."""

    def __init__(self, session: Session, learner_ids: Iterable[str]) -> None:
        self.rows: dict[str, dict[str, Any]] = repository.rows(session, learner_ids)
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
        """A learner mentioned inline (with a completion): created if new, the details given
        merged in; the audit event, if any."""
        return self.change(
            learner_id,
            email=details.email if details else None,
            name=details.name if details else None,
            did=details.did if details else None,
            attributes=details.attributes if details else None,
            replace_attributes=False,
            now=now,
            actor=actor,
        )

    def change(
        self,
        learner_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        did: str | None = None,
        public_profile: bool | None = None,
        attributes: Mapping[str, str | None] | None = None,
        replace_attributes: bool,
        clear: Collection[str] = (),
        now: datetime,
        effective_at: datetime | None = None,
        actor: str,
    ) -> EventSpec | None:
        """Create or update ``learner_id``; the ``learner.created`` / ``learner.updated`` audit
        event, or ``None`` when nothing changed.

        Only fields given change; those named in ``clear`` (``email``, ``name``, ``did``,
        ``public_profile``) are removed. ``attributes`` replaces the whole set when
        ``replace_attributes`` (PUT), or is merged into it (an inline mention); attribute
        changes take effect at ``effective_at`` (default ``now``).
        """
        row = self.rows.get(learner_id)
        created = row is None
        if row is None:
            row = self.rows[learner_id] = {
                "id": learner_id,
                "email": None,
                "name": None,
                "did": None,
                "public_profile": None,
                "subject_uuid": str(uuid.uuid4()),
                "attributes": {},
                "revision": 1,
                "created_at": now,
                "updated_at": now,
            }
            self.created.append(learner_id)
        changes: dict[str, Any] = {}
        given = (("email", email), ("name", name), ("did", did), ("public_profile", public_profile))
        for field, value in given:
            if value is None and field not in clear:
                continue
            if row[field] != value:
                changes[field] = {"from": row[field], "to": value}
                row[field] = value
        if attributes is not None:
            new, changed = merge_attributes(
                row["attributes"], attributes, replace=replace_attributes
            )
            for key, change in changed.items():
                changes[f"attributes.{key}"] = change
                self.attribute_changes.append(
                    {
                        "learner_id": learner_id,
                        "name": key,
                        "value": change["to"],
                        "changed_at": effective_at or now,
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
        if self.created:
            repository.insert_rows(session, [self.rows[i] for i in self.created])
        changed = sorted(self.updated - set(self.created))
        if changed:
            repository.update_rows(session, [self.rows[i] for i in changed], (*_FIELDS, *_UPDATED))
        if self.attribute_changes:
            repository.insert_attribute_changes(session, self.attribute_changes)
