"""The catalog document: shapes, canonical form, round-trips, level helpers, fingerprints."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.catalog.document import (
    DEMO_CATALOG_PATH,
    CatalogDocument,
    LevelDef,
    load_demo_catalog,
    parse_yaml,
)
from service.catalog.expressions import AllOf, AttributeIn, LevelRef
from service.catalog.validation import validate_catalog


def demo_mapping() -> dict[str, Any]:
    return copy.deepcopy(load_demo_catalog().to_mapping())


def level(rank: int = 1, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": f"level-{rank}",
        "name": f"Level {rank}",
        "rank": rank,
        "requires": {"courses": [{"course": "c1"}]},
    }
    return {**base, **overrides}


def catalog(*levels: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "courses": [{"id": "c1", "name": "Course one"}, {"id": "c2", "name": "Course two"}],
        "tracks": [{"id": "t", "name": "Track", "levels": list(levels)}],
        **extra,
    }


def error_locations(exc: ValidationError) -> list[tuple[str | int, ...]]:
    return [tuple(error["loc"]) for error in exc.errors()]


# --- the demo catalog ---------------------------------------------------------------------


def test_demo_catalog_loads_and_validates() -> None:
    doc = load_demo_catalog()
    validate_catalog(doc)
    assert len(doc.courses) == 11
    assert [entry.full_id for entry in doc.levels()] == [
        "social-media/foundations",
        "social-media/practitioner",
        "social-media/black-belt",
    ]
    assert [p.id for p in doc.programs] == [
        "post-on-brand-accounts",
        "run-paid-campaigns",
        "host-live-events",
        "respond-to-crisis",
    ]
    assert {r.id: [m.level for m in r.mandatory] for r in doc.roles} == {
        "community-manager": ["social-media/practitioner"],
        "marketing": ["social-media/foundations"],
    }
    foundations = doc.tracks[0].levels[0]
    assert foundations.requires.courses[0].min_score == 80
    assert foundations.renewal is not None
    assert (foundations.renewal.window, foundations.renewal.grace) == ("P60D", "P30D")
    electives = doc.tracks[0].levels[1].requires.electives
    assert electives is not None
    assert (electives.pick, len(electives.from_)) == (2, 4)


def test_demo_catalog_round_trips_through_to_mapping_json_and_yaml() -> None:
    doc = load_demo_catalog()
    mapping = doc.to_mapping()
    assert CatalogDocument.from_mapping(mapping) == doc
    assert CatalogDocument.from_yaml(doc.to_yaml()) == doc
    assert CatalogDocument.from_mapping(mapping).to_mapping() == mapping


def test_to_mapping_is_canonical_and_omits_unset_optionals() -> None:
    mapping = load_demo_catalog().to_mapping()
    assert list(mapping) == ["courses", "tracks", "programs", "roles"]
    assert mapping["courses"][2] == {
        "id": "disclosure-101",
        "name": "Disclosure and endorsement rules",
    }
    black_belt = mapping["tracks"][0]["levels"][2]
    assert list(black_belt) == ["id", "name", "description", "rank", "requires", "valid_for"]
    assert black_belt["requires"]["courses"][2] == {"course": "mentoring-301"}
    assert black_belt["requires"]["inherit_previous"] is True
    electives = mapping["tracks"][0]["levels"][1]["requires"]["electives"]
    assert list(electives) == ["pick", "from"]  # the YAML key, not the Python name
    assert mapping["programs"][0]["requires"] == "social-media/foundations"
    assert mapping["roles"][0] == {
        "id": "community-manager",
        "mandatory": [{"level": "social-media/practitioner", "within": "P60D"}],
    }


def test_demo_file_is_the_one_shipped_with_the_package() -> None:
    assert DEMO_CATALOG_PATH.name == "social-media-program.yaml"
    assert CatalogDocument.from_yaml(DEMO_CATALOG_PATH.read_text()) == load_demo_catalog()


def test_durations_and_expressions_are_stored_canonically() -> None:
    doc = CatalogDocument.from_mapping(
        catalog(
            level(valid_for=" p2y ", recency="p3y"),
            programs=[
                {
                    "id": "p",
                    "name": "Program",
                    "requires": {
                        "all_of": ["t/level-1", {"attribute": "region", "in": ["EU", "EU"]}]
                    },
                }
            ],
        )
    )
    lvl = doc.tracks[0].levels[0]
    assert (lvl.valid_for, lvl.recency) == ("P2Y", "P3Y")
    program = doc.programs[0]
    assert program.requires == {"all_of": ["t/level-1", {"attribute": "region", "in": ["EU"]}]}
    assert program.expr == AllOf((LevelRef("t/level-1"), AttributeIn("region", ("EU",))))


def test_program_expr_of_the_demo() -> None:
    programs = {p.id: p for p in load_demo_catalog().programs}
    assert programs["post-on-brand-accounts"].expr == LevelRef("social-media/foundations")


# --- shape errors name the offending field --------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "location"),
    [
        (lambda m: m["tracks"][0]["levels"][0].update(valid_for="P1X"), ("valid_for",)),
        (lambda m: m["tracks"][0]["levels"][0].update(valid_for="P0D"), ("valid_for",)),
        (lambda m: m["tracks"][0]["levels"][0].update(recency="1 year"), ("recency",)),
        (
            lambda m: m["tracks"][0]["levels"][0]["renewal"].update(window="60 days"),
            ("renewal", "window"),
        ),
        (lambda m: m["tracks"][0]["levels"][0]["renewal"].update(grace="P"), ("renewal", "grace")),
        (
            lambda m: m["tracks"][0]["levels"][0]["requires"]["courses"][0].update(min_score=101),
            ("requires", "courses", 0, "min_score"),
        ),
        (
            lambda m: m["tracks"][0]["levels"][0]["requires"]["courses"][0].update(min_score=-1),
            ("requires", "courses", 0, "min_score"),
        ),
        (
            lambda m: m["tracks"][0]["levels"][0]["requires"]["courses"][0].update(min_score=True),
            ("requires", "courses", 0, "min_score"),
        ),
        (lambda m: m["tracks"][0]["levels"][0].update(rank=0), ("rank",)),
        (lambda m: m["tracks"][0]["levels"][0].update(id="Foundations"), ("id",)),
        (lambda m: m["tracks"][0]["levels"][0].update(name=""), ("name",)),
        (lambda m: m["tracks"][0]["levels"][0].update(colour="red"), ("colour",)),
        (
            lambda m: m["tracks"][0]["levels"][0]["requires"].update(levels=["foundations"]),
            ("requires", "levels", 0),
        ),
        (
            lambda m: m["tracks"][0]["levels"][0]["requires"].update(inherit_previous="no"),
            ("requires", "inherit_previous"),
        ),
        (
            lambda m: m["tracks"][0]["levels"][0]["renewal"].update(courses=[]),
            ("renewal", "courses"),
        ),
    ],
)
def test_bad_level_fields_are_rejected_at_their_location(
    edit: Any, location: tuple[Any, ...]
) -> None:
    mapping = demo_mapping()
    edit(mapping)
    with pytest.raises(ValidationError) as caught:
        CatalogDocument.from_mapping(mapping)
    assert error_locations(caught.value) == [("tracks", 0, "levels", 0, *location)]


def test_pick_more_than_the_electives_offered_is_rejected() -> None:
    mapping = demo_mapping()
    mapping["tracks"][0]["levels"][1]["requires"]["electives"]["pick"] = 5
    with pytest.raises(ValidationError, match="pick 5 is more than the 4 courses"):
        CatalogDocument.from_mapping(mapping)
    mapping["tracks"][0]["levels"][1]["requires"]["electives"]["pick"] = 0
    with pytest.raises(ValidationError) as caught:
        CatalogDocument.from_mapping(mapping)
    assert error_locations(caught.value) == [
        ("tracks", 0, "levels", 1, "requires", "electives", "pick")
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "foundations",
        {"all_of": []},
        {"one_of": ["social-media/foundations"]},
        {"all_of": ["social-media/foundations", 3]},
        {"attribute": "Region", "in": ["EU"]},
        None,
    ],
)
def test_bad_program_expressions_are_rejected(expression: Any) -> None:
    mapping = demo_mapping()
    mapping["programs"][1]["requires"] = expression
    with pytest.raises(ValidationError) as caught:
        CatalogDocument.from_mapping(mapping)
    assert error_locations(caught.value) == [("programs", 1, "requires")]


@pytest.mark.parametrize(
    ("course", "field", "value"),
    [
        (0, "id", "policy 101"),
        (0, "id", ""),
        (0, "name", "x" * 201),
        (0, "xapi_activity_id", "lms.example.com/xapi/policy-101"),
        (0, "xapi_activity_id", "https://"),
        (0, "xapi_activity_id", "https://lms.example.com/has space"),
        (2, "description", ""),
    ],
)
def test_bad_course_fields_are_rejected(course: int, field: str, value: str) -> None:
    mapping = demo_mapping()
    mapping["courses"][course][field] = value
    with pytest.raises(ValidationError) as caught:
        CatalogDocument.from_mapping(mapping)
    assert error_locations(caught.value) == [("courses", course, field)]


def test_urn_and_http_activity_ids_are_accepted() -> None:
    mapping = demo_mapping()
    mapping["courses"][0]["xapi_activity_id"] = "urn:lms:activity:policy-101"
    mapping["courses"][1]["xapi_activity_id"] = "http://lms.example.com/a?id=1#frag"
    doc = CatalogDocument.from_mapping(mapping)
    assert doc.courses[0].xapi_activity_id == "urn:lms:activity:policy-101"


def test_bad_role_mandate_duration_is_rejected() -> None:
    mapping = demo_mapping()
    mapping["roles"][1]["mandatory"][0]["within"] = "30 days"
    with pytest.raises(ValidationError) as caught:
        CatalogDocument.from_mapping(mapping)
    assert error_locations(caught.value) == [("roles", 1, "mandatory", 0, "within")]


def test_size_limits_are_enforced() -> None:
    courses = [{"id": f"c{i}", "name": f"Course {i}"} for i in range(1_001)]
    with pytest.raises(ValidationError, match="at most 1000 items"):
        CatalogDocument.from_mapping({"courses": courses})
    assert len(CatalogDocument.from_mapping({"courses": courses[:1_000]}).courses) == 1_000
    levels = [level(rank) for rank in range(1, 52)]
    with pytest.raises(ValidationError, match="at most 50 items"):
        CatalogDocument.from_mapping(catalog(*levels))
    too_many = [{"course": f"c{i}"} for i in range(101)]
    with pytest.raises(ValidationError, match="at most 100 items"):
        CatalogDocument.from_mapping(catalog(level(requires={"courses": too_many})))


def test_yaml_aliases_duplicate_keys_and_non_mappings_are_refused() -> None:
    text = DEMO_CATALOG_PATH.read_text()
    with pytest.raises(yaml.YAMLError, match="aliases"):
        CatalogDocument.from_yaml("courses: &c [{id: a, name: A}]\nroles: *c\n")
    with pytest.raises(yaml.YAMLError, match="duplicate key 'valid_for'"):
        CatalogDocument.from_yaml(
            text.replace("valid_for: P1Y", "valid_for: P1Y\n        valid_for: P2Y")
        )
    with pytest.raises(ValueError, match="at most"):
        parse_yaml("#" * 5_000_001)
    assert parse_yaml("a: [1, b]") == {"a": [1, "b"]}
    for junk in ["", "- just a list", "42"]:
        with pytest.raises(ValidationError):
            CatalogDocument.from_yaml(junk)


# --- level helpers -------------------------------------------------------------------------


def test_effective_prerequisites_follow_rank_not_list_order() -> None:
    doc = CatalogDocument.from_mapping(
        catalog(
            level(3, requires={"courses": [{"course": "c1"}], "levels": ["t/level-1"]}),
            level(1),
            level(2, requires={"courses": [{"course": "c2"}], "inherit_previous": False}),
        )
    )
    assert doc.prerequisite_graph() == {
        "t/level-3": ["t/level-1", "t/level-2"],
        "t/level-1": [],
        "t/level-2": [],
    }
    entries = {entry.full_id: entry for entry in doc.levels()}
    assert entries["t/level-3"].implied_prerequisite == "t/level-2"
    assert entries["t/level-2"].implied_previous == "t/level-1"
    assert entries["t/level-2"].implied_prerequisite is None
    assert entries["t/level-1"].path == "tracks[0].levels[1]"
    assert doc.level_ids() == {"t/level-1", "t/level-2", "t/level-3"}


def test_normalized_orders_objects_by_id_and_levels_by_rank() -> None:
    doc = CatalogDocument.from_mapping(catalog(level(2), level(1)))
    normal = doc.normalized()
    assert [lv.rank for lv in normal.tracks[0].levels] == [1, 2]
    assert [lv.rank for lv in doc.tracks[0].levels] == [2, 1]


def fingerprint(**overrides: Any) -> str:
    base = {
        "id": "foundations",
        "name": "Foundations",
        "rank": 1,
        "requires": {"courses": [{"course": "a", "min_score": 80}, {"course": "b"}]},
        "valid_for": "P1Y",
        "renewal": {"courses": ["r"], "window": "P60D", "grace": "P30D"},
    }
    return LevelDef.model_validate({**base, **overrides}).rules_fingerprint()


def test_rules_fingerprint_ignores_presentation_but_not_rules() -> None:
    same = fingerprint()
    assert len(same) == 64
    assert fingerprint(name="Renamed", description="Now described", rank=5) == same
    assert fingerprint(id="other") == same
    assert fingerprint(valid_for="P12M") == same  # the same period, spelled differently
    assert (
        fingerprint(requires={"courses": [{"course": "b"}, {"course": "a", "min_score": 80}]})
        == same
    )
    assert fingerprint(requires={"courses": [{"course": "a"}, {"course": "b"}]}) != same
    assert fingerprint(requires={"courses": [{"course": "a", "min_score": 80}]}) != same
    assert fingerprint(valid_for="P2Y") != same
    assert fingerprint(valid_for=None, renewal=None) != fingerprint(renewal=None)
    assert fingerprint(renewal={"courses": ["r"], "window": "P90D"}) != same
    assert fingerprint(recency="P3Y") != same
    with_levels = {
        "courses": [{"course": "a", "min_score": 80}, {"course": "b"}],
        "levels": ["x/y"],
    }
    assert fingerprint(requires=with_levels) != same


def test_rules_fingerprint_depends_on_the_effective_previous_level() -> None:
    lvl = LevelDef.model_validate(level(2))
    assert lvl.rules_fingerprint("t/level-1") != lvl.rules_fingerprint(None)
    assert lvl.rules_fingerprint("t/level-1") != lvl.rules_fingerprint("t/other")
    explicit = LevelDef.model_validate(
        level(
            2,
            requires={
                "courses": [{"course": "c1"}],
                "levels": ["t/level-1"],
                "inherit_previous": False,
            },
        )
    )
    # the same effective prerequisites, written explicitly instead of implied
    assert explicit.rules_fingerprint("t/level-1") == lvl.rules_fingerprint("t/level-1")


# --- property: generated catalogs round-trip and validate ----------------------------------

slugs = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=30,
)
durations = st.sampled_from(["P1Y", "P2Y", "P6M", "P90D", "P1W", "PT12H", "P1Y6M"])


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, Any]:
    course_ids = draw(st.lists(slugs, min_size=1, max_size=8, unique=True))
    courses = [
        {"id": cid, "name": draw(names)}
        | ({"xapi_activity_id": f"https://lms.example.com/{cid}"} if draw(st.booleans()) else {})
        for cid in course_ids
    ]
    tracks: list[dict[str, Any]] = []
    known_levels: list[str] = []  # only refer to earlier tracks: the result stays acyclic
    for track_id in draw(st.lists(slugs, max_size=3, unique=True)):
        levels = []
        new_ids = []
        for rank, level_id in enumerate(
            draw(st.lists(slugs, min_size=1, max_size=4, unique=True)), 1
        ):
            required = draw(
                st.lists(st.sampled_from(course_ids), min_size=1, max_size=3, unique=True)
            )
            requires: dict[str, Any] = {
                "courses": [
                    {"course": c}
                    | ({"min_score": draw(st.integers(0, 100))} if draw(st.booleans()) else {})
                    for c in required
                ],
                "levels": draw(st.lists(st.sampled_from(known_levels), unique=True))
                if known_levels
                else [],
                "inherit_previous": draw(st.booleans()),
            }
            rest = [c for c in course_ids if c not in required]
            with_electives: bool = draw(st.booleans())
            if rest and with_electives:
                offered = draw(st.lists(st.sampled_from(rest), min_size=1, unique=True))
                requires["electives"] = {
                    "pick": draw(st.integers(1, len(offered))),
                    "from": offered,
                }
            item: dict[str, Any] = {
                "id": level_id,
                "name": draw(names),
                "rank": rank * 10,
                "requires": requires,
            }
            if draw(st.booleans()):
                item["valid_for"] = draw(durations)
                if draw(st.booleans()):
                    item["renewal"] = {"courses": [course_ids[0]], "window": draw(durations)}
            if draw(st.booleans()):
                item["recency"] = draw(durations)
            levels.append(item)
            new_ids.append(f"{track_id}/{level_id}")
        tracks.append({"id": track_id, "name": draw(names), "levels": levels})
        known_levels += new_ids
    programs = [
        {
            "id": pid,
            "name": draw(names),
            "requires": {
                "any_of": draw(st.lists(st.sampled_from(known_levels), min_size=1, max_size=3))
            },
        }
        for pid in (draw(st.lists(slugs, max_size=3, unique=True)) if known_levels else [])
    ]
    roles = [
        {
            "id": rid,
            "mandatory": [
                {"level": lv, "within": draw(durations)}
                for lv in draw(st.lists(st.sampled_from(known_levels), unique=True, max_size=2))
            ],
        }
        for rid in (draw(st.lists(slugs, max_size=2, unique=True)) if known_levels else [])
    ]
    return {"courses": courses, "tracks": tracks, "programs": programs, "roles": roles}


@settings(max_examples=60, deadline=None)
@given(catalogs())
def test_generated_catalogs_validate_and_round_trip(mapping: dict[str, Any]) -> None:
    doc = CatalogDocument.from_mapping(mapping)
    validate_catalog(doc)
    assert CatalogDocument.from_mapping(doc.to_mapping()) == doc
    assert CatalogDocument.from_yaml(doc.to_yaml()) == doc
    assert CatalogDocument.from_mapping(doc.to_mapping()).to_mapping() == doc.to_mapping()
