"""Whole-catalog rules: references resolve, ids are unique, prerequisites form no cycle.

:func:`validate_catalog` walks the document once in document order (courses, tracks and their
levels, programs, roles) and raises the first problem found; prerequisite cycles, a property of
the whole graph, are looked for last. Everything is linear in the size of the catalog, so CRUD
endpoints can afford to validate the whole catalog on each change.

Exceptions carry no HTTP. Suggested mapping: :class:`PrerequisiteCycle` → 409, every other
:class:`CatalogError` → 422. Each class has a stable ``code`` for problem ``type`` URIs.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

import yaml
from pydantic import ValidationError

from service.catalog.document import CatalogDocument, LevelEntry, Requirements
from service.catalog.expressions import ExpressionError

N = TypeVar("N", bound=Hashable)
_END: Any = object()


class CatalogError(ValueError):
    """A catalog rule is broken; ``path`` locates it (``tracks[0].levels[1].rank``)."""

    code: ClassVar[str] = "catalog-invalid"

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class InvalidDocument(CatalogError):
    """The document does not have the catalog's shape (raised by :func:`load_catalog`)."""

    code = "catalog-invalid-document"


class DuplicateId(CatalogError):
    """An id is used twice where it must be unique (``kind``: course, track, level, ...)."""

    code = "catalog-duplicate-id"

    def __init__(self, path: str, id: str, kind: str = "id", first_path: str | None = None):
        where = f" (first at {first_path})" if first_path else ""
        super().__init__(path, f"duplicate {kind} {id!r}{where}")
        self.id = id
        self.kind = kind
        self.first_path = first_path


class UnknownReference(CatalogError):
    """A reference names a ``kind`` (``course`` or ``level``) the catalog does not define."""

    code = "catalog-unknown-reference"

    def __init__(self, path: str, reference: str, kind: str) -> None:
        super().__init__(path, f"unknown {kind} {reference!r}")
        self.reference = reference
        self.kind = kind


class PrerequisiteCycle(CatalogError):
    """Levels require each other; ``cycle`` starts and ends with the same level id."""

    code = "catalog-prerequisite-cycle"

    def __init__(self, cycle: list[str], path: str = "") -> None:
        super().__init__(path, "prerequisite cycle: " + " → ".join(cycle))
        self.cycle = cycle


def load_catalog(source: str | bytes | Mapping[str, Any]) -> CatalogDocument:
    """Parse YAML text (or an already-parsed mapping) and validate it: the one call for the CLI.

    Shape problems become :class:`InvalidDocument` with a document path; rule problems raise
    as from :func:`validate_catalog`.
    """
    try:
        if isinstance(source, Mapping):
            doc = CatalogDocument.from_mapping(source)
        else:
            doc = CatalogDocument.from_yaml(source)
    except yaml.YAMLError as exc:
        raise InvalidDocument("", f"not valid YAML: {exc}") from exc
    except ValidationError as exc:
        path, message = describe_validation_error(exc)
        raise InvalidDocument(path, message) from exc
    except ValueError as exc:  # oversized text
        raise InvalidDocument("", str(exc)) from exc
    validate_catalog(doc)
    return doc


def describe_validation_error(exc: ValidationError) -> tuple[str, str]:
    """The first error of a document ValidationError as ``(path, message)``."""
    error = exc.errors()[0]
    loc = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, ExpressionError) and loc and loc[-1] == "requires":
        # the expression knows where inside itself it went wrong (requires.all_of[1])
        return _join(format_location(loc[:-1]), cause.path), cause.message
    return format_location(loc), message


def format_location(loc: Iterable[str | int]) -> str:
    """``("tracks", 0, "levels", 1, "rank")`` → ``tracks[0].levels[1].rank``."""
    parts: list[str] = []
    for part in loc:
        parts.append(f"[{part}]" if isinstance(part, int) else ("." if parts else "") + part)
    return "".join(parts)


def _join(head: str, tail: str) -> str:
    return f"{head}.{tail}" if head and tail else head or tail


def validate_catalog(doc: CatalogDocument) -> None:
    """Raise the first :class:`CatalogError` in document order, or return when all rules hold.

    Rules: ids unique (courses, tracks, levels within a track, programs, roles, and entries of
    each requirement list); level ranks unique within a track; every course referenced by
    ``requires.courses``, ``electives.from`` and ``renewal.courses`` exists; every level
    referenced by ``requires.levels``, a program's ``requires`` or a role's ``mandatory``
    exists; an elective is not also a required course; ``renewal`` needs ``valid_for``; a
    level requires something (a course, electives or a prerequisite level, implied or not);
    and the effective prerequisite graph (see ``LevelDef.prerequisites``) has no cycle.
    """
    courses = doc.course_ids()
    levels = doc.level_ids()

    _unique(((f"courses[{i}].id", c.id) for i, c in enumerate(doc.courses)), "course")
    track_ids: dict[str, str] = {}
    level_entries = list(doc.levels())
    by_track: dict[int, list[LevelEntry]] = {}
    for entry in level_entries:
        by_track.setdefault(entry.track_index, []).append(entry)
    for track_index, track in enumerate(doc.tracks):
        path = f"tracks[{track_index}]"
        _claim(track_ids, f"{path}.id", track.id, "track")
        level_ids: dict[str, str] = {}
        ranks: dict[int, str] = {}
        for entry in by_track.get(track_index, []):
            _check_level(entry, level_ids, ranks, courses, levels)

    program_ids: dict[str, str] = {}
    for index, program in enumerate(doc.programs):
        path = f"programs[{index}]"
        _claim(program_ids, f"{path}.id", program.id, "program")
        _known(_expression_levels(program.requires, f"{path}.requires"), levels, "level")
    role_ids: dict[str, str] = {}
    for index, role in enumerate(doc.roles):
        path = f"roles[{index}]"
        _claim(role_ids, f"{path}.id", role.id, "role")
        mandates = [(f"{path}.mandatory[{i}].level", m.level) for i, m in enumerate(role.mandatory)]
        _unique(mandates, "level")
        _known(mandates, levels, "level")

    cycle = find_cycle({entry.full_id: entry.prerequisites for entry in level_entries})
    if cycle is not None:
        where = {entry.full_id: entry.path for entry in level_entries}
        raise PrerequisiteCycle(cycle, f"{where[cycle[0]]}.requires")


def _check_level(
    entry: LevelEntry,
    level_ids: dict[str, str],
    ranks: dict[int, str],
    courses: set[str],
    levels: set[str],
) -> None:
    level, path = entry.level, entry.path
    _claim(level_ids, f"{path}.id", level.id, "level")
    if level.rank in ranks:
        raise CatalogError(
            f"{path}.rank", f"rank {level.rank} is already used by level {ranks[level.rank]!r}"
        )
    ranks[level.rank] = level.id
    req = level.requires
    _check_requirements(f"{path}.requires", req, courses, levels)
    if not (req.courses or req.electives or entry.prerequisites):
        raise CatalogError(
            f"{path}.requires", "a level must require a course, electives or another level"
        )
    if level.renewal is not None:
        if level.valid_for is None:
            raise CatalogError(
                f"{path}.renewal", "renewal needs valid_for (the level never expires)"
            )
        renewal = [(f"{path}.renewal.courses[{i}]", c) for i, c in enumerate(level.renewal.courses)]
        _unique(renewal, "course")
        _known(renewal, courses, "course")


def _check_requirements(path: str, req: Requirements, courses: set[str], levels: set[str]) -> None:
    required = [(f"{path}.courses[{i}].course", c.course) for i, c in enumerate(req.courses)]
    _unique(required, "course")
    _known(required, courses, "course")
    if req.electives is not None:
        electives = [(f"{path}.electives.from[{i}]", c) for i, c in enumerate(req.electives.from_)]
        _unique(electives, "course")
        _known(electives, courses, "course")
        also_required = {course for _, course in required}
        for where, course in electives:
            if course in also_required:
                raise CatalogError(where, f"course {course!r} is both required and an elective")
    prerequisites = [(f"{path}.levels[{i}]", level) for i, level in enumerate(req.levels)]
    _unique(prerequisites, "level")
    _known(prerequisites, levels, "level")


def _claim(seen: dict[str, str], path: str, value: str, kind: str) -> None:
    if value in seen:
        raise DuplicateId(path, value, kind, seen[value])
    seen[value] = path


def _unique(items: Iterable[tuple[str, str]], kind: str = "id") -> None:
    seen: dict[str, str] = {}
    for path, value in items:
        _claim(seen, path, value, kind)


def _known(items: Iterable[tuple[str, str]], known: set[str], kind: str) -> None:
    for path, value in items:
        if value not in known:
            raise UnknownReference(path, value, kind)


def _expression_levels(raw: Any, path: str) -> Iterator[tuple[str, str]]:
    """Level ids of a canonical expression (JSON form), in order, with their paths."""
    if isinstance(raw, str):
        yield path, raw
    elif isinstance(raw, dict):
        for key in ("all_of", "any_of"):
            for index, item in enumerate(raw.get(key, ())):
                yield from _expression_levels(item, f"{path}.{key}[{index}]")


def find_cycle(graph: Mapping[N, Iterable[N]]) -> list[N] | None:
    """A cycle of ``graph`` (node → successors) as ``[a, b, ..., a]``, or ``None`` if acyclic.

    Iterative depth-first search, O(nodes + edges); successors that are not keys have no
    successors. Deterministic: the search follows the mapping's and each successor list's
    order, and the cycle is rotated to start at its node that comes first in the mapping.
    """
    order = {node: index for index, node in enumerate(graph)}
    done: set[N] = set()
    on_path: dict[N, int] = {}  # node → its position in `path`
    for root in graph:
        if root in done:
            continue
        path: list[N] = [root]
        on_path[root] = 0
        stack: list[Iterator[N]] = [iter(graph.get(root, ()))]
        while stack:
            successor = next(stack[-1], _END)
            if successor is _END:
                finished = path.pop()
                del on_path[finished]
                done.add(finished)
                stack.pop()
                continue
            if successor in on_path:
                loop = path[on_path[successor] :]
                start = min(range(len(loop)), key=lambda i: order.get(loop[i], len(order)))
                loop = loop[start:] + loop[:start]
                return [*loop, loop[0]]
            if successor not in done:
                on_path[successor] = len(path)
                path.append(successor)
                stack.append(iter(graph.get(successor, ())))
    return None


__all__ = [
    "CatalogError",
    "DuplicateId",
    "InvalidDocument",
    "PrerequisiteCycle",
    "UnknownReference",
    "describe_validation_error",
    "find_cycle",
    "format_location",
    "load_catalog",
    "validate_catalog",
]
