"""Reading the catalog tables into a :class:`CatalogDocument`, and writing a diff back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from service.catalog.diff import CatalogDiff, ObjectChange
from service.catalog.document import (
    CatalogDocument,
    CourseDef,
    LevelDef,
    LevelEntry,
    ProgramDef,
    RoleDef,
    TrackDef,
)
from service.models import (
    CatalogState,
    Completion,
    Course,
    Credential,
    Level,
    LevelVersion,
    Program,
    Role,
    Track,
)

RULE_FIELDS = ("requires", "valid_for", "renewal", "recency")


@dataclass
class CatalogRows:
    """Every catalog row (archived included), by id."""

    courses: dict[str, Course] = field(default_factory=dict)
    tracks: dict[str, Track] = field(default_factory=dict)
    levels: dict[str, Level] = field(default_factory=dict)
    versions: dict[str, LevelVersion] = field(default_factory=dict)  # current version per level
    programs: dict[str, Program] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)


def load_rows(session: Session) -> CatalogRows:
    rows = CatalogRows()
    rows.courses = {c.id: c for c in session.exec(select(Course).order_by(col(Course.id)))}
    rows.tracks = {t.id: t for t in session.exec(select(Track).order_by(col(Track.id)))}
    rows.levels = {
        lv.id: lv
        for lv in session.exec(select(Level).order_by(col(Level.track_id), col(Level.rank)))
    }
    for version in session.exec(select(LevelVersion)):
        level = rows.levels.get(version.level_id)
        if level is not None and level.version == version.version:
            rows.versions[level.id] = version
    rows.programs = {p.id: p for p in session.exec(select(Program).order_by(col(Program.id)))}
    rows.roles = {r.id: r for r in session.exec(select(Role).order_by(col(Role.id)))}
    return rows


def _level_def(level: Level, version: LevelVersion) -> LevelDef:
    return LevelDef.model_validate(
        {
            "id": level.local_id,
            "name": level.name,
            "description": level.description,
            "rank": level.rank,
            "image": level.image,
            **{k: v for k, v in version.rules.items() if v is not None},
        }
    )


def to_document(rows: CatalogRows) -> CatalogDocument:
    """The active (not archived) catalog as a document."""
    levels_by_track: dict[str, list[LevelDef]] = {}
    for level in rows.levels.values():
        if level.archived_at is None:
            levels_by_track.setdefault(level.track_id, []).append(
                _level_def(level, rows.versions[level.id])
            )
    return CatalogDocument(
        courses=[
            CourseDef(
                id=c.id, name=c.name, description=c.description, xapi_activity_id=c.xapi_activity_id
            )
            for c in rows.courses.values()
            if c.archived_at is None
        ],
        tracks=[
            TrackDef(
                id=t.id,
                name=t.name,
                description=t.description,
                levels=levels_by_track.get(t.id, []),
            )
            for t in rows.tracks.values()
            if t.archived_at is None
        ],
        programs=[
            ProgramDef(id=p.id, name=p.name, description=p.description, requires=p.requires)
            for p in rows.programs.values()
            if p.archived_at is None
        ],
        roles=[
            RoleDef.model_validate(
                {"id": r.id, "name": r.name, "description": r.description, "mandatory": r.mandatory}
            )
            for r in rows.roles.values()
            if r.archived_at is None
        ],
    )


def lock_catalog(session: Session) -> CatalogState:
    """Serialise catalog writers (row lock on PostgreSQL; SQLite writers already queue).

    The state row is made on first use with ``ON CONFLICT DO NOTHING``: two first writers
    racing must both end up waiting on the one row, not one of them on a duplicate key."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(CatalogState).values(id=1, revision=0).on_conflict_do_nothing())
    return session.exec(select(CatalogState).where(CatalogState.id == 1).with_for_update()).one()


# Built once: every write reads it (SQLAlchemy works out a new statement's cache key each time).
_REVISION = select(CatalogState.revision).where(CatalogState.id == 1)


def catalog_revision(session: Session) -> int:
    """The catalog's revision as committed (read from the database, not the session's copy)."""
    return session.exec(_REVISION).first() or 0


def write_diff(
    session: Session, rows: CatalogRows, desired: CatalogDocument, diff: CatalogDiff, now: datetime
) -> None:
    """Make the tables match ``desired`` for every entry of ``diff`` (flushes, never commits)."""
    wanted_levels = {entry.full_id: entry for entry in desired.levels()}
    by_kind: dict[str, dict[str, Any]] = {
        "course": {c.id: c for c in desired.courses},
        "track": {t.id: t for t in desired.tracks},
        "program": {p.id: p for p in desired.programs},
        "role": {r.id: r for r in desired.roles},
    }
    # Tracks before levels (foreign key), levels after courses; order inside is the diff's.
    order = {"course": 0, "track": 1, "level": 2, "program": 3, "role": 4}
    previous_kind = None
    for change in sorted(diff.entries, key=lambda e: order[e.kind]):
        if change.kind != previous_kind:
            session.flush()  # rows a later kind refers to (tracks for levels) must exist first
            previous_kind = change.kind
        if change.kind == "level":
            _write_level(session, rows, change, wanted_levels.get(change.id), now)
        else:
            _write_simple(session, rows, change, by_kind[change.kind].get(change.id), now)
    session.flush()


_TABLES: dict[str, Any] = {"course": Course, "track": Track, "program": Program, "role": Role}


def _simple_fields(kind: str, definition: Any) -> dict[str, Any]:
    if kind == "course":
        return {
            "name": definition.name,
            "description": definition.description,
            "xapi_activity_id": definition.xapi_activity_id,
        }
    if kind == "track":
        return {"name": definition.name, "description": definition.description}
    if kind == "program":
        return {
            "name": definition.name,
            "description": definition.description,
            "requires": definition.requires,
        }
    return {
        "name": definition.name,
        "description": definition.description,
        "mandatory": [m.model_dump(mode="json") for m in definition.mandatory],
    }


def _rows_of(rows: CatalogRows, kind: str) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {
        "course": rows.courses,
        "track": rows.tracks,
        "program": rows.programs,
        "role": rows.roles,
    }
    return table[kind]


def _write_simple(
    session: Session, rows: CatalogRows, change: ObjectChange, definition: Any, now: datetime
) -> None:
    existing = _rows_of(rows, change.kind).get(change.id)
    if change.action == "archived":
        assert existing is not None
        existing.archived_at = now
        existing.revision += 1
        existing.updated_at = now
        session.add(existing)
        return
    values = _simple_fields(change.kind, definition)
    if existing is None:
        row = _TABLES[change.kind](id=change.id, created_at=now, updated_at=now, **values)
        session.add(row)
        _rows_of(rows, change.kind)[change.id] = row
        return
    for name, value in values.items():
        setattr(existing, name, value)
    existing.archived_at = None
    existing.revision += 1
    existing.updated_at = now
    session.add(existing)


def _write_level(
    session: Session,
    rows: CatalogRows,
    change: ObjectChange,
    entry: LevelEntry | None,
    now: datetime,
) -> None:
    existing = rows.levels.get(change.id)
    if change.action == "archived":
        existing.archived_at = now  # type: ignore[union-attr]
        existing.revision += 1  # type: ignore[union-attr]
        existing.updated_at = now  # type: ignore[union-attr]
        session.add(existing)
        return
    assert entry is not None
    level = entry.level
    rules = level.model_dump(mode="json", by_alias=True, include=set(RULE_FIELDS))
    fingerprint = entry.rules_fingerprint()
    if existing is None:
        existing = Level(
            id=entry.full_id,
            track_id=entry.track.id,
            local_id=level.id,
            name=level.name,
            description=level.description,
            rank=level.rank,
            image=level.image,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(existing)
        session.flush()
        rows.levels[existing.id] = existing
        _add_version(session, rows, existing, rules, entry.prerequisites, fingerprint, now)
        return
    new_version = rows.versions[existing.id].fingerprint != fingerprint
    existing.name = level.name
    existing.description = level.description
    existing.rank = level.rank
    existing.image = level.image
    existing.archived_at = None
    existing.revision += 1
    existing.updated_at = now
    if new_version:
        existing.version += 1
    session.add(existing)
    session.flush()
    if new_version:
        _add_version(session, rows, existing, rules, entry.prerequisites, fingerprint, now)


def _add_version(
    session: Session,
    rows: CatalogRows,
    level: Level,
    rules: dict[str, Any],
    prerequisites: list[str],
    fingerprint: str,
    now: datetime,
) -> None:
    version = LevelVersion(
        level_id=level.id,
        version=level.version,
        rules=rules,
        prerequisites=prerequisites,
        fingerprint=fingerprint,
        created_at=now,
    )
    session.add(version)
    rows.versions[level.id] = version


def bump_revision(session: Session, state: CatalogState, now: datetime) -> int:
    session.execute(
        update(CatalogState)
        .where(col(CatalogState.id) == state.id)
        .values(revision=CatalogState.revision + 1, updated_at=now)
    )
    session.refresh(state)
    return state.revision


def level_versions(session: Session, level_id: str) -> list[LevelVersion]:
    query = (
        select(LevelVersion)
        .where(LevelVersion.level_id == level_id)
        .order_by(col(LevelVersion.version))
    )
    return list(session.exec(query))


def in_use(session: Session, kind: str, obj_id: str) -> str | None:
    """Why ``obj_id`` may not be deleted, or None: it has been used (completions recorded,
    credentials issued), and history must keep resolving. Archive instead."""
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


def row(session: Session, model: type[Any], obj_id: str, *, fresh: bool = False) -> Any:
    """The catalog row ``obj_id`` of ``model``; ``fresh`` re-reads it over what the session
    holds (under the catalog lock)."""
    return session.get(model, obj_id, populate_existing=fresh)


def delete_row(session: Session, row: Any) -> None:
    """Delete a catalog object (a level with its versions), flushed."""
    if isinstance(row, Level):
        session.execute(delete(LevelVersion).where(col(LevelVersion.level_id) == row.id))
    session.delete(row)
    session.flush()
