"""The catalog compiled for the engines, cached per process by catalog revision.

Every process reads ``catalog_state.revision`` (one primary-key read) and rebuilds only when it
moved, so a catalog change through one process is seen by all on their next request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from service.catalog import repository
from service.catalog.expressions import Expr, parse_requires
from service.core.durations import Duration
from service.issuance.engine_facts import CourseRequirement, LevelRule, Renewal


@dataclass(frozen=True)
class LevelInfo:
    id: str
    track: str
    slug: str
    name: str
    description: str
    rank: int
    version: int
    criteria: str
    image: str | None
    archived: bool


@dataclass(frozen=True)
class ProgramInfo:
    id: str
    name: str
    expr: Expr
    archived: bool


@dataclass(frozen=True)
class CompiledCatalog:
    revision: int
    rules: dict[str, LevelRule]  # active levels only: archived levels are never awarded
    levels: dict[str, LevelInfo]  # every level, archived included (history resolves)
    prerequisites: dict[str, tuple[str, ...]]
    programs: dict[str, ProgramInfo]
    courses: dict[str, str]  # id -> name, archived included
    xapi_activities: dict[str, str] = field(default_factory=dict)  # activity IRI -> course id


def _duration(text: str | None) -> Duration | None:
    return Duration.parse(text) if text else None


def _rule(
    level_id: str, name: str, version: int, rules: dict[str, Any], prereqs: list[str]
) -> LevelRule:
    requires = rules.get("requires") or {}
    electives = requires.get("electives") or {}
    renewal = rules.get("renewal")
    return LevelRule(
        level_id=level_id,
        version=version,
        name=name,
        courses=tuple(
            CourseRequirement(c["course"], c.get("min_score")) for c in requires.get("courses", [])
        ),
        electives_pick=int(electives.get("pick", 0)),
        electives_from=tuple(electives.get("from", [])),
        prerequisites=tuple(prereqs),
        valid_for=_duration(rules.get("valid_for")),
        renewal=Renewal(
            courses=tuple(renewal["courses"]),
            window=Duration.parse(renewal["window"]),
            grace=_duration(renewal.get("grace")),
        )
        if renewal
        else None,
        recency=_duration(rules.get("recency")),
    )


def criteria_narrative(
    rules: dict[str, Any], prereqs: list[str], courses: dict[str, str], names: dict[str, str]
) -> str:
    """Markdown criteria generated from the requirements (what the credential attests)."""
    requires = rules.get("requires") or {}
    lines = []
    for c in requires.get("courses", []):
        score = f" with a score of at least {c['min_score']}" if c.get("min_score") else ""
        lines.append(f"- Completed **{courses.get(c['course'], c['course'])}**{score}")
    electives = requires.get("electives")
    if electives:
        options = ", ".join(courses.get(x, x) for x in electives["from"])
        lines.append(f"- Completed {electives['pick']} of: {options}")
    for level in prereqs:
        lines.append(f"- Held **{names.get(level, level)}**")
    if rules.get("recency"):
        lines.append(f"- Completions count for {rules['recency']} (ISO 8601)")
    if rules.get("valid_for"):
        lines.append(f"\nValid for {rules['valid_for']} (ISO 8601 duration) from the award.")
    return "\n".join(lines) or "Awarded by the issuer."


def compile_catalog(session: Session, revision: int) -> CompiledCatalog:
    rows = repository.load_rows(session)
    names = {lv.id: lv.name for lv in rows.levels.values()}
    courses = {c.id: c.name for c in rows.courses.values()}
    rules: dict[str, LevelRule] = {}
    levels: dict[str, LevelInfo] = {}
    prerequisites: dict[str, tuple[str, ...]] = {}
    for level in rows.levels.values():
        version = rows.versions[level.id]
        prerequisites[level.id] = tuple(version.prerequisites)
        levels[level.id] = LevelInfo(
            id=level.id,
            track=level.track_id,
            slug=level.local_id,
            name=level.name,
            description=level.description or level.name,
            rank=level.rank,
            version=level.version,
            criteria=criteria_narrative(version.rules, version.prerequisites, courses, names),
            archived=level.archived_at is not None,
            image=level.image,
        )
        if level.archived_at is None:
            rules[level.id] = _rule(
                level.id, level.name, level.version, version.rules, version.prerequisites
            )
    programs = {
        p.id: ProgramInfo(p.id, p.name, parse_requires(p.requires), p.archived_at is not None)
        for p in rows.programs.values()
    }
    activities = {
        c.xapi_activity_id: c.id
        for c in rows.courses.values()
        if c.xapi_activity_id and c.archived_at is None
    }
    return CompiledCatalog(revision, rules, levels, prerequisites, programs, courses, activities)


class CatalogCache:
    """Process-wide cache of the compiled catalog, keyed by the catalog revision."""

    def __init__(self) -> None:
        self._compiled: CompiledCatalog | None = None
        self._lock = threading.Lock()

    def get(self, session: Session) -> CompiledCatalog:
        revision = repository.catalog_revision(session)
        compiled = self._compiled
        if compiled is not None and compiled.revision == revision:
            return compiled
        compiled = compile_catalog(session, revision)
        with self._lock:
            self._compiled = compiled
        return compiled
