"""Single-object catalog writes, expressed as edits of the whole document (see service.py)."""

from __future__ import annotations

from typing import Any, Literal

from sqlmodel import Session

from service.audit.service import record
from service.catalog import repository
from service.catalog.document import CatalogDocument, LevelDef, TrackDef
from service.catalog.service import ApplyResult, CatalogInUse, apply
from service.catalog.validation import CatalogError, UnknownReference, validate_catalog
from service.db import utcnow
from service.errors import Conflict, NotFound, PreconditionFailed
from service.models import Course, Level, Program, Role, Track

SimpleKind = Literal["course", "track", "program", "role"]
_LISTS = {"course": "courses", "track": "tracks", "program": "programs", "role": "roles"}


def etag(revision: int) -> str:
    return f'"{revision}"'


def check_if_match(if_match: str | None, revision: int) -> None:
    """412 when the client's ``If-Match`` names an older revision (absent: no check)."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if etag(revision) not in wanted:
        raise PreconditionFailed(
            f"If-Match {if_match} does not match the current ETag {etag(revision)}; "
            "read the object again and re-apply your change.",
            current_etag=etag(revision),
        )


def _rows(session: Session, kind: str) -> dict[str, Any]:
    rows = repository.load_rows(session)
    table: dict[str, dict[str, Any]] = {
        "course": rows.courses,
        "track": rows.tracks,
        "program": rows.programs,
        "role": rows.roles,
        "level": rows.levels,
    }
    return table[kind]


def get_row(session: Session, kind: str, obj_id: str) -> Any:
    row = repository.row(session, _TABLE[kind], obj_id)
    if row is None:
        raise NotFound(f"No {kind} {obj_id!r}.")
    return row


def _locked_row(session: Session, kind: str, obj_id: str) -> Any:
    """The object as it stands under the catalog lock: every check a write makes on it (ETag,
    archived, in use) must see the last committed writer, or two writers both pass."""
    repository.lock_catalog(session)
    row = repository.row(session, _TABLE[kind], obj_id, fresh=True)
    if row is None:
        raise NotFound(f"No {kind} {obj_id!r}.")
    return row


def _replace(items: list[Any], obj_id: str, new: Any | None) -> list[Any]:
    return [new if item.id == obj_id else item for item in items if new or item.id != obj_id]


def create(session: Session, kind: SimpleKind, definition: Any, *, actor: str) -> ApplyResult:
    repository.lock_catalog(session)
    if repository.row(session, _TABLE[kind], definition.id) is not None:
        raise Conflict(f"A {kind} with id {definition.id!r} already exists (maybe archived).")
    field = _LISTS[kind]
    return apply(
        session,
        lambda doc: doc.model_copy(update={field: [*getattr(doc, field), definition]}),
        actor=actor,
    )


def update(
    session: Session,
    kind: SimpleKind,
    obj_id: str,
    definition: Any,
    *,
    if_match: str | None,
    actor: str,
) -> ApplyResult:
    row = _locked_row(session, kind, obj_id)
    check_if_match(if_match, row.revision)
    if row.archived_at is not None:
        raise Conflict(f"{kind} {obj_id!r} is archived; re-create it through PUT /v1/catalog.")
    field = _LISTS[kind]

    def edit(doc: CatalogDocument) -> CatalogDocument:
        if kind == "track":  # a track's own fields only; levels have their own endpoints
            old = next(t for t in doc.tracks if t.id == obj_id)
            new = old.model_copy(
                update={"name": definition.name, "description": definition.description}
            )
            return doc.model_copy(update={"tracks": _replace(doc.tracks, obj_id, new)})
        return doc.model_copy(update={field: _replace(getattr(doc, field), obj_id, definition)})

    return apply(session, edit, actor=actor)


def _without(doc: CatalogDocument, kind: str, obj_id: str) -> CatalogDocument:
    if kind == "level":
        track_id, _, local = obj_id.partition("/")
        tracks = [
            t.model_copy(update={"levels": [lv for lv in t.levels if lv.id != local]})
            if t.id == track_id
            else t
            for t in doc.tracks
        ]
        return doc.model_copy(update={"tracks": tracks})
    field = _LISTS[kind]
    return doc.model_copy(update={field: _replace(getattr(doc, field), obj_id, None)})


def archive(session: Session, kind: str, obj_id: str, *, actor: str) -> ApplyResult:
    row = _locked_row(session, kind, obj_id)
    if row.archived_at is not None:
        raise Conflict(f"{kind} {obj_id!r} is already archived.")
    return apply(session, lambda doc: _refuse_dangling(_without(doc, kind, obj_id)), actor=actor)


def _refuse_dangling(doc: CatalogDocument) -> CatalogDocument:
    try:
        validate_catalog(doc)
    except UnknownReference as exc:
        raise CatalogInUse(
            f"Still referred to by {exc.path} ({exc.kind} {exc.reference!r}); "
            "change or archive that first.",
            referenced_by=exc.path,
        ) from exc
    except CatalogError:
        pass  # reported by apply with its own problem type
    return doc


def delete_object(session: Session, kind: str, obj_id: str, *, actor: str) -> None:
    """Delete for good: refused (409) while referred to or used; archive is the alternative."""
    row = _locked_row(session, kind, obj_id)
    reason = repository.in_use(session, kind, obj_id)
    if reason:
        raise CatalogInUse(f"{kind} {obj_id!r} cannot be deleted: {reason}. Archive it instead.")
    if kind == "track" and any(lv.track_id == obj_id for lv in _rows(session, "level").values()):
        raise CatalogInUse(f"track {obj_id!r} still has levels; delete or archive them first.")
    if row.archived_at is None:
        apply(session, lambda doc: _refuse_dangling(_without(doc, kind, obj_id)), actor=actor)
    repository.delete_row(session, row)
    state = repository.lock_catalog(session)
    repository.bump_revision(session, state, utcnow())
    record(session, actor=actor, action=f"catalog.{kind}.deleted", subject=f"{kind}:{obj_id}")


def create_level(session: Session, track_id: str, level: LevelDef, *, actor: str) -> ApplyResult:
    track = _locked_row(session, "track", track_id)
    if track.archived_at is not None:
        raise Conflict(f"track {track_id!r} is archived.")
    if repository.row(session, Level, f"{track_id}/{level.id}") is not None:
        raise Conflict(f"Level {track_id}/{level.id} already exists (maybe archived).")

    def edit(doc: CatalogDocument) -> CatalogDocument:
        tracks = [
            t.model_copy(update={"levels": [*t.levels, level]}) if t.id == track_id else t
            for t in doc.tracks
        ]
        return doc.model_copy(update={"tracks": tracks})

    return apply(session, edit, actor=actor)


def update_level(
    session: Session, level_id: str, level: LevelDef, *, if_match: str | None, actor: str
) -> ApplyResult:
    row = _locked_row(session, "level", level_id)
    check_if_match(if_match, row.revision)
    if row.archived_at is not None:
        raise Conflict(f"level {level_id!r} is archived; re-create it through PUT /v1/catalog.")

    def edit(doc: CatalogDocument) -> CatalogDocument:
        tracks: list[TrackDef] = []
        for t in doc.tracks:
            if t.id == row.track_id:
                t = t.model_copy(update={"levels": _replace(t.levels, row.local_id, level)})
            tracks.append(t)
        return doc.model_copy(update={"tracks": tracks})

    return apply(session, edit, actor=actor)


_TABLE: dict[str, Any] = {
    "course": Course,
    "track": Track,
    "program": Program,
    "role": Role,
    "level": Level,
}
