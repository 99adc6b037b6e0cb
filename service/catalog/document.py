"""The declarative catalog document: courses, tracks with levels, program kinds, role mandates.

This module is pure (no database, no web). It checks the *shape* of each object — id patterns,
lengths, durations, scores, expression syntax — when a document is built; whole-catalog rules
(references resolve, ids are unique, the prerequisite graph is acyclic) are checked by
:func:`service.catalog.validation.validate_catalog`.

Size limits, enforced on construction so that validating a whole catalog stays cheap:

* at most 1,000 courses, 100 tracks, 50 levels per track, 200 program kinds, 200 role mandates;
* at most 100 entries in any requirement list (``requires.courses``, ``requires.levels``,
  ``electives.from``, ``renewal.courses``, a role's ``mandatory``).

Building a document raises :class:`pydantic.ValidationError` (a ``ValueError``) for bad shapes;
:meth:`CatalogDocument.from_yaml` also raises :class:`yaml.YAMLError` for bad YAML.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.catalog.expressions import Expr, parse_requires, to_json
from service.core.durations import Duration
from service.core.ids import COURSE_ID_PATTERN, LEVEL_ID_PATTERN, SLUG_PATTERN
from service.core.text import require_storable

MAX_COURSES: Final = 1_000
MAX_TRACKS: Final = 100
MAX_LEVELS_PER_TRACK: Final = 50
MAX_PROGRAMS: Final = 200
MAX_ROLES: Final = 200
MAX_REQUIREMENT_ITEMS: Final = 100
MAX_RANK: Final = 10_000
MAX_YAML_BYTES: Final = 5_000_000

#: The reference catalog shipped with the service (``credence catalog apply`` demo, seeding).
DEMO_CATALOG_PATH: Final = Path(__file__).parent / "demo" / "social-media-program.yaml"

# An absolute IRI (RFC 3987): a scheme, then no whitespace or characters IRIs forbid.
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]+$")
_HTTP_IRI = re.compile(r"^https?://[^\s/?#<>\"{}|\\^`]+([/?#][^\s<>\"{}|\\^`]*)?$", re.IGNORECASE)


def _canonical_duration(text: str) -> str:
    return Duration.parse(text).text


def _absolute_iri(text: str) -> str:
    if not _IRI.match(text):
        raise ValueError(f"{text!r} is not an absolute IRI (e.g. https://... or urn:...)")
    if text.lower().startswith(("http:", "https:")) and not _HTTP_IRI.match(text):
        raise ValueError(f"{text!r} is not an absolute http(s) IRI with a host")
    return text


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
CourseId = Annotated[str, StringConstraints(pattern=COURSE_ID_PATTERN)]
LevelId = Annotated[str, StringConstraints(pattern=LEVEL_ID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4_000)
]
#: An ISO 8601 duration, stored in its canonical text form (``p1y`` becomes ``P1Y``).
DurationText = Annotated[str, AfterValidator(_canonical_duration)]
Iri = Annotated[str, StringConstraints(max_length=2_048), AfterValidator(_absolute_iri)]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True
    )


class CourseDef(_Model):
    """A learning activity in some LMS; ``xapi_activity_id`` maps xAPI statements onto it."""

    id: CourseId
    name: Name
    description: Description | None = None
    xapi_activity_id: Iri | None = None


class CourseRequirement(_Model):
    """A required course; a completion counts only with ``score >= min_score`` when one is set."""

    course: CourseId
    min_score: Annotated[StrictInt, Field(ge=0, le=100)] | None = None


class Electives(_Model):
    """Pick ``pick`` of the courses in ``from`` (``from_`` in Python)."""

    pick: Annotated[StrictInt, Field(ge=1)]
    from_: list[CourseId] = Field(alias="from", min_length=1, max_length=MAX_REQUIREMENT_ITEMS)

    @model_validator(mode="after")
    def _pick_fits(self) -> Electives:
        if self.pick > len(self.from_):
            raise ValueError(f"pick {self.pick} is more than the {len(self.from_)} courses in from")
        return self


class Requirements(_Model):
    """What earns a level.

    ``levels`` are explicit prerequisite levels (``track/level``, any track). Unless
    ``inherit_previous`` is false, the level ranked just below in the same track is a
    prerequisite too (see :meth:`TrackDef.implied_previous`).
    """

    courses: list[CourseRequirement] = Field(default=[], max_length=MAX_REQUIREMENT_ITEMS)
    electives: Electives | None = None
    levels: list[LevelId] = Field(default=[], max_length=MAX_REQUIREMENT_ITEMS)
    inherit_previous: StrictBool = True


class Renewal(_Model):
    """A shorter path to renew: ``courses`` alone suffice within ``window`` before expiry
    (or ``grace`` after it)."""

    courses: list[CourseId] = Field(min_length=1, max_length=MAX_REQUIREMENT_ITEMS)
    window: DurationText
    grace: DurationText | None = None


def _duration_key(text: str | None) -> list[int] | None:
    # Equal-behaving spellings (P12M/P1Y, P1W/P7D) hash alike: months, days, seconds.
    if text is None:
        return None
    d = Duration.parse(text)
    return [d.years * 12 + d.months, d.days, d.seconds]


class LevelDef(_Model):
    """One level of a track (an Open Badges Achievement); its full id is ``track/level``."""

    id: Slug
    name: Name
    description: Description | None = None
    rank: Annotated[StrictInt, Field(ge=1, le=MAX_RANK)]
    image: Iri | None = Field(
        default=None,
        description="URL of the level's badge image; without one, credentials name the image "
        "Credence draws from the level's name and rank",
    )
    requires: Requirements
    valid_for: DurationText | None = None
    renewal: Renewal | None = None
    recency: DurationText | None = None

    def prerequisites(self, implied_previous: str | None) -> list[str]:
        """Effective prerequisite level ids: explicit ``requires.levels``, then the level ranked
        just below (``implied_previous``, a full id) unless ``inherit_previous`` is false."""
        found = list(dict.fromkeys(self.requires.levels))
        if self.requires.inherit_previous and implied_previous and implied_previous not in found:
            found.append(implied_previous)
        return found

    def rules_fingerprint(self, implied_previous: str | None = None) -> str:
        """SHA-256 (hex) of the canonical JSON of the earning rules: ``requires`` + ``valid_for``
        + ``renewal`` + ``recency``.

        A change to the fingerprint makes a new level *version* (credentials record the
        version they were issued under); ``name``, ``description`` and ``rank`` are
        presentation and change the stored level in place.

        The rules are hashed in their effective form, so edits that change nothing a learner
        could notice keep the version: list order, ``P12M`` vs ``P1Y``, and
        ``inherit_previous`` are normalised through the effective prerequisite set, for which
        the caller passes ``implied_previous`` (full id of the level ranked just below in the
        track, ``None`` for the lowest). :meth:`CatalogDocument.levels` does this for you.
        """
        req = self.requires
        rules = {
            "courses": sorted((c.course, c.min_score) for c in req.courses),
            "electives": None
            if req.electives is None
            else {"pick": req.electives.pick, "from": sorted(set(req.electives.from_))},
            "prerequisites": sorted(self.prerequisites(implied_previous)),
            "valid_for": _duration_key(self.valid_for),
            "renewal": None
            if self.renewal is None
            else {
                "courses": sorted(set(self.renewal.courses)),
                "window": _duration_key(self.renewal.window),
                "grace": _duration_key(self.renewal.grace),
            },
            "recency": _duration_key(self.recency),
        }
        return hashlib.sha256(_canonical_json(rules).encode()).hexdigest()


class TrackDef(_Model):
    """A graduated program holding ranked levels. Empty tracks are allowed (built up by CRUD)."""

    id: Slug
    name: Name
    description: Description | None = None
    levels: list[LevelDef] = Field(default=[], max_length=MAX_LEVELS_PER_TRACK)

    def level_id(self, level: LevelDef | str) -> str:
        """The full ``track/level`` id of one of this track's levels."""
        return f"{self.id}/{level if isinstance(level, str) else level.id}"

    def implied_previous(self) -> dict[str, str | None]:
        """Local level id → full id of the level ranked just below it (``None`` for the lowest).

        Only meaningful once ranks are unique (``validate_catalog`` checks that).
        """
        ordered = sorted(self.levels, key=lambda level: level.rank)
        below: dict[str, str | None] = {}
        for index, level in enumerate(ordered):
            below.setdefault(level.id, self.level_id(ordered[index - 1]) if index else None)
        return below


class ProgramDef(_Model):
    """A program kind; ``requires`` is the expression's canonical JSON, :attr:`expr` its parse."""

    id: Slug
    name: Name
    description: Description | None = None
    requires: Any = Field(
        description="A level id, {all_of: [...]}, {any_of: [...]} or {attribute, in: [...]}",
        examples=["social-media/foundations", {"any_of": ["t/a", "t/b"]}],
    )
    _expr: Expr = PrivateAttr()

    @field_validator("requires", mode="before")
    @classmethod
    def _canonical_requires(cls, raw: Any) -> Any:
        return to_json(parse_requires(raw, "requires"))

    def model_post_init(self, context: Any, /) -> None:
        self._expr = parse_requires(self.requires, "requires")

    @property
    def expr(self) -> Expr:
        """The parsed expression (see :mod:`service.catalog.expressions`)."""
        return self._expr


class MandatoryLevel(_Model):
    """Holders of the role must hold ``level`` within ``within`` of getting the role."""

    level: LevelId
    within: DurationText


class RoleDef(_Model):
    """A role mandate: learners whose ``role`` attribute is ``id`` must hold these levels."""

    id: Slug
    name: Name | None = None
    description: Description | None = None
    mandatory: list[MandatoryLevel] = Field(default=[], max_length=MAX_REQUIREMENT_ITEMS)


@dataclass(frozen=True, slots=True)
class LevelEntry:
    """A level in its catalog context, as yielded by :meth:`CatalogDocument.levels`."""

    full_id: str
    track: TrackDef = field(compare=False)  # comparing whole tracks per level is quadratic
    level: LevelDef
    track_index: int
    level_index: int
    implied_previous: str | None

    @property
    def name(self) -> str:
        return self.level.name

    @property
    def path(self) -> str:
        return f"tracks[{self.track_index}].levels[{self.level_index}]"

    @property
    def prerequisites(self) -> list[str]:
        """Effective prerequisites: explicit ``requires.levels`` + the implied previous rank."""
        return self.level.prerequisites(self.implied_previous)

    @property
    def implied_prerequisite(self) -> str | None:
        """The prerequisite added by rank order alone: the level ranked just below, unless
        ``inherit_previous`` is false or it is already an explicit prerequisite."""
        implied = self.implied_previous
        requires = self.level.requires
        if implied is None or not requires.inherit_previous or implied in requires.levels:
            return None
        return implied

    def rules_fingerprint(self) -> str:
        return self.level.rules_fingerprint(self.implied_previous)


class CatalogDocument(_Model):
    """The whole catalog, as applied by ``PUT /v1/catalog`` and returned by ``GET /v1/catalog``.

    Limits: 1,000 courses, 100 tracks (50 levels each), 200 programs, 200 roles.
    """

    courses: list[CourseDef] = Field(default=[], max_length=MAX_COURSES)
    tracks: list[TrackDef] = Field(default=[], max_length=MAX_TRACKS)
    programs: list[ProgramDef] = Field(default=[], max_length=MAX_PROGRAMS)
    roles: list[RoleDef] = Field(default=[], max_length=MAX_ROLES)

    @classmethod
    def from_mapping(cls, obj: Any) -> CatalogDocument:
        """Build from parsed JSON/YAML; raise :class:`pydantic.ValidationError` on bad shapes."""
        return cls.model_validate(obj)

    @classmethod
    def from_yaml(cls, text: str | bytes) -> CatalogDocument:
        """Parse YAML with :func:`parse_yaml` and build the document."""
        return cls.from_mapping(parse_yaml(text))

    def to_mapping(self) -> dict[str, Any]:
        """Canonical JSON-able form: fields in a fixed order, unset optionals omitted, lists in
        document order, durations and expressions canonical. ``from_mapping`` inverts it."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_mapping(), sort_keys=False, allow_unicode=True)

    def normalized(self) -> CatalogDocument:
        """A copy in canonical order: objects by id, levels by rank (for listing endpoints)."""
        return self.model_copy(
            update={
                "courses": sorted(self.courses, key=lambda c: c.id),
                "tracks": [
                    track.model_copy(update={"levels": sorted(track.levels, key=lambda v: v.rank)})
                    for track in sorted(self.tracks, key=lambda t: t.id)
                ],
                "programs": sorted(self.programs, key=lambda p: p.id),
                "roles": sorted(self.roles, key=lambda r: r.id),
            }
        )

    def levels(self) -> Iterator[LevelEntry]:
        """Every level with its full id, in document order."""
        for track_index, track in enumerate(self.tracks):
            below = track.implied_previous()
            for level_index, level in enumerate(track.levels):
                yield LevelEntry(
                    full_id=track.level_id(level),
                    track=track,
                    level=level,
                    track_index=track_index,
                    level_index=level_index,
                    implied_previous=below.get(level.id),
                )

    def course_ids(self) -> set[str]:
        return {course.id for course in self.courses}

    def level_ids(self) -> set[str]:
        return {track.level_id(level) for track in self.tracks for level in track.levels}

    def prerequisite_graph(self) -> dict[str, list[str]]:
        """Full level id → its effective prerequisites (edges point at what must be held first)."""
        return {entry.full_id: entry.prerequisites for entry in self.levels()}


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing aliases (a few bytes could expand into a huge expression tree) and
    duplicate keys (a second ``valid_for:`` silently winning is a trap)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed in a catalog", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable key: let SafeLoader report it
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str | bytes) -> Any:
    """Parse catalog YAML strictly: safe types only, no aliases, no duplicate keys, at most
    5 MB. Raises :class:`yaml.YAMLError`, or ``ValueError`` when the text is too big or holds
    a NUL character or an unpaired surrogate (:class:`~service.core.text.UnstorableText`)."""
    if len(text) > MAX_YAML_BYTES:
        raise ValueError(f"a catalog document is at most {MAX_YAML_BYTES:,} bytes")
    document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    require_storable(document)  # YAML's "\0" and "\ud800" escapes: UnstorableText
    return document


def load_demo_catalog() -> CatalogDocument:
    """The shipped reference catalog (``service/catalog/demo/social-media-program.yaml``)."""
    return CatalogDocument.from_yaml(DEMO_CATALOG_PATH.read_text(encoding="utf-8"))


__all__ = [
    "DEMO_CATALOG_PATH",
    "MAX_COURSES",
    "MAX_LEVELS_PER_TRACK",
    "MAX_PROGRAMS",
    "MAX_REQUIREMENT_ITEMS",
    "MAX_ROLES",
    "MAX_TRACKS",
    "CatalogDocument",
    "CourseDef",
    "CourseRequirement",
    "Electives",
    "LevelDef",
    "LevelEntry",
    "MandatoryLevel",
    "ProgramDef",
    "Renewal",
    "Requirements",
    "RoleDef",
    "TrackDef",
    "load_demo_catalog",
    "parse_yaml",
]
