"""Whether a catalog object has been used (completions recorded, credentials issued), which
makes deleting it impossible: history must keep resolving. Archive instead."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.models import Completion, Credential


def in_use(session: Session, kind: str, obj_id: str) -> str | None:
    """Why ``obj_id`` may not be deleted, or None."""
    if kind == "course":
        query = select(Completion.id).where(col(Completion.course_id) == obj_id).limit(1)
        if session.exec(query).first() is not None:
            return "completions were recorded for it"
    if kind == "level":
        query = select(Credential.id).where(col(Credential.level_id) == obj_id).limit(1)
        if session.exec(query).first() is not None:
            return "credentials were issued under it"
    if kind == "track":
        query = (
            select(Credential.id).where(col(Credential.level_id).startswith(obj_id + "/")).limit(1)
        )
        if session.exec(query).first() is not None:
            return "credentials were issued under its levels"
    return None
