"""What applying a desired catalog would change, object by object (``PUT /v1/catalog?dry_run``).

Objects are keyed by kind and id (a level by ``track/level``). An object only in ``desired`` is
``created``; one only in ``current`` is ``archived`` (the service archives, never deletes, so
pass the *active* catalog as ``current``: re-adding an archived object shows as ``created``);
one in both with different fields is ``changed``. Unchanged objects are not listed.

Field names are those of :meth:`CatalogDocument.to_mapping`, with a level's ``requires`` split
into ``requires.courses``, ``requires.electives``, ``requires.levels`` and
``requires.inherit_previous``. Lists that are sets in meaning (required courses, electives,
prerequisite levels, renewal courses, a role's mandates) compare without regard to order.
A level whose effective prerequisites change only because the level ranked below it changed
(a level inserted or removed beneath it) reports the pseudo-field ``implied_prerequisite``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from service.catalog.document import CatalogDocument, LevelEntry

ObjectKind = Literal["course", "track", "level", "program", "role"]
Action = Literal["created", "changed", "archived"]

KINDS: Final[tuple[ObjectKind, ...]] = ("course", "track", "level", "program", "role")
_SYMBOLS: Final = {"created": "+", "changed": "~", "archived": "-"}


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's old and new value (``None`` when unset), as in ``to_mapping``."""

    old: Any
    new: Any

    def to_mapping(self) -> dict[str, Any]:
        return {"from": self.old, "to": self.new}


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """One created, changed or archived object.

    ``changes`` is filled for ``changed`` only. ``version_bump`` is true for a changed level
    whose rules fingerprint changed (store a new level version), false for other level
    entries (a created level starts at its first version), ``None`` for other kinds.
    """

    kind: ObjectKind
    id: str
    action: Action
    name: str | None = None
    changes: Mapping[str, FieldChange] = field(default_factory=dict)
    version_bump: bool | None = None

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "id": self.id, "action": self.action}
        if self.name is not None:
            out["name"] = self.name
        if self.action == "changed":
            out["changes"] = {name: change.to_mapping() for name, change in self.changes.items()}
        if self.version_bump is not None:
            out["version_bump"] = self.version_bump
        return out

    def render(self) -> str:
        head = f"{_SYMBOLS[self.action]} {self.kind} {self.id}"
        if self.action == "created":
            return f"{head} {json.dumps(self.name, ensure_ascii=False)}" if self.name else head
        if self.action == "archived":
            return f"{head} (archived)"
        fields = "; ".join(
            f"{name} {_show(name, change.old)} → {_show(name, change.new)}"
            for name, change in self.changes.items()
        )
        return f"{head}: {fields}" + (" (new version)" if self.version_bump else "")


@dataclass(frozen=True, slots=True)
class CatalogDiff:
    """All changes, ordered by kind (courses, tracks, levels, programs, roles), then created and
    changed objects in desired-document order, then archived ones in current-document order."""

    entries: tuple[ObjectChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.entries

    def of_kind(self, kind: ObjectKind) -> list[ObjectChange]:
        return [entry for entry in self.entries if entry.kind == kind]

    def get(self, kind: ObjectKind, id: str) -> ObjectChange | None:
        return next((e for e in self.entries if e.kind == kind and e.id == id), None)

    def summary(self) -> dict[str, int]:
        counts = {"created": 0, "changed": 0, "archived": 0}
        for entry in self.entries:
            counts[entry.action] += 1
        return counts

    def to_mapping(self) -> dict[str, Any]:
        """JSON-able: ``{"changes": [...], "summary": {"created": n, ...}}``."""
        return {
            "changes": [entry.to_mapping() for entry in self.entries],
            "summary": self.summary(),
        }

    def render_text(self) -> str:
        """One line per object, e.g. ``~ level social-media/foundations: valid_for P1Y → P2Y
        (new version)``; ``no changes`` when empty."""
        return "\n".join(entry.render() for entry in self.entries) or "no changes"


def diff_catalogs(current: CatalogDocument, desired: CatalogDocument) -> CatalogDiff:
    """Compare two (individually valid) catalogs; see the module docstring for the rules."""
    entries: list[ObjectChange] = []
    entries += _diff_kind(
        "course", _by_id(current.courses), _by_id(desired.courses), _course_fields
    )
    entries += _diff_kind("track", _by_id(current.tracks), _by_id(desired.tracks), _track_fields)
    entries += _diff_levels(current, desired)
    entries += _diff_kind(
        "program", _by_id(current.programs), _by_id(desired.programs), _program_fields
    )
    entries += _diff_kind("role", _by_id(current.roles), _by_id(desired.roles), _role_fields)
    return CatalogDiff(tuple(entries))


Fields = dict[str, tuple[Any, Any]]  # field → (value as shown, value as compared)


def _diff_kind(
    kind: ObjectKind,
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    fields: Callable[[Any], Fields],
) -> list[ObjectChange]:
    entries: list[ObjectChange] = []
    for key, new in desired.items():
        old = current.get(key)
        if old is None:
            entries.append(ObjectChange(kind, key, "created", name=new.name))
        elif old != new and (changes := _changes(fields(old), fields(new))):
            entries.append(ObjectChange(kind, key, "changed", name=new.name, changes=changes))
    entries += [
        ObjectChange(kind, key, "archived", name=old.name)
        for key, old in current.items()
        if key not in desired
    ]
    return entries


def _diff_levels(current: CatalogDocument, desired: CatalogDocument) -> list[ObjectChange]:
    before = {entry.full_id: entry for entry in current.levels()}
    after = {entry.full_id: entry for entry in desired.levels()}
    entries = _diff_kind("level", before, after, _level_fields)
    # a level's fingerprint decides its version; fill version_bump for changed levels
    return [
        ObjectChange(
            entry.kind,
            entry.id,
            entry.action,
            entry.name,
            entry.changes,
            version_bump=entry.action == "changed"
            and before[entry.id].rules_fingerprint() != after[entry.id].rules_fingerprint(),
        )
        for entry in entries
    ]


def _by_id(objects: Iterable[Any]) -> dict[str, Any]:
    return {obj.id: obj for obj in objects}


def _changes(old: Fields, new: Fields) -> dict[str, FieldChange]:
    return {
        name: FieldChange(old[name][0], new[name][0])
        for name in new
        if old[name][1] != new[name][1]
    }


def _plain(obj: Any, *names: str) -> Fields:
    dumped = obj.model_dump(mode="json", by_alias=True)
    return {name: (dumped[name], dumped[name]) for name in names}


def _course_fields(course: Any) -> Fields:
    return _plain(course, "name", "description", "xapi_activity_id")


def _track_fields(track: Any) -> Fields:
    # its levels are objects of their own
    return _plain(track, "name", "description")


def _program_fields(program: Any) -> Fields:
    return _plain(program, "name", "description", "requires")


def _role_fields(role: Any) -> Fields:
    fields = _plain(role, "name", "description")
    mandatory = role.model_dump(mode="json")["mandatory"]
    fields["mandatory"] = (mandatory, sorted(mandatory, key=lambda m: m["level"]))
    return fields


def _level_fields(entry: LevelEntry) -> Fields:
    level = entry.level
    dumped = level.model_dump(mode="json", by_alias=True)
    req = dumped["requires"]
    electives = req["electives"]
    renewal = dumped["renewal"]
    fields: Fields = {
        name: (dumped[name], dumped[name]) for name in ("name", "description", "rank", "image")
    }
    fields["requires.courses"] = (req["courses"], sorted(req["courses"], key=lambda c: c["course"]))
    fields["requires.electives"] = (
        _drop_none(electives),
        electives and {"pick": electives["pick"], "from": sorted(electives["from"])},
    )
    fields["requires.levels"] = (req["levels"], sorted(req["levels"]))
    fields["requires.inherit_previous"] = (req["inherit_previous"], req["inherit_previous"])
    for name in ("valid_for", "recency"):
        fields[name] = (dumped[name], dumped[name])
    fields["renewal"] = (
        _drop_none(renewal),
        renewal and {**renewal, "courses": sorted(renewal["courses"])},
    )
    implied = entry.implied_prerequisite
    fields["implied_prerequisite"] = (implied, implied)
    return fields


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if item is not None}
    return value


_BARE: Final = re.compile(r"^[\w./:+-]+$")


def _show(name: str, value: Any) -> str:
    if value is None:
        return "none"
    if name == "mandatory":
        return "[" + ", ".join(f"{m['level']} within {m['within']}" for m in value) + "]"
    if isinstance(value, str) and _BARE.match(value) and name not in ("name", "description"):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


__all__ = [
    "KINDS",
    "Action",
    "CatalogDiff",
    "FieldChange",
    "ObjectChange",
    "ObjectKind",
    "diff_catalogs",
]
