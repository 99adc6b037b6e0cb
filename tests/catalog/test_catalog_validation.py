"""Whole-catalog rules: every broken rule raises the right error, naming what is wrong and where."""

from __future__ import annotations

import copy
import graphlib
import itertools
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalog.document import CatalogDocument, load_demo_catalog
from service.catalog.validation import (
    CatalogError,
    DuplicateId,
    InvalidDocument,
    PrerequisiteCycle,
    UnknownReference,
    find_cycle,
    load_catalog,
    validate_catalog,
)


def demo() -> dict[str, Any]:
    return copy.deepcopy(load_demo_catalog().to_mapping())


def validate(mapping: dict[str, Any]) -> None:
    validate_catalog(CatalogDocument.from_mapping(mapping))


def levels_of(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    levels: list[dict[str, Any]] = mapping["tracks"][0]["levels"]
    return levels


def with_other_track(mapping: dict[str, Any], *levels: dict[str, Any]) -> dict[str, Any]:
    mapping["tracks"].append({"id": "other", "name": "Other track", "levels": list(levels)})
    return mapping


def simple_level(level_id: str, rank: int, *prerequisites: str, **requires: Any) -> dict[str, Any]:
    return {
        "id": level_id,
        "name": level_id.title(),
        "rank": rank,
        "requires": {
            "courses": [{"course": "policy-101"}],
            "levels": list(prerequisites),
            **requires,
        },
    }


def test_the_demo_is_valid() -> None:
    validate(demo())


# --- unknown references --------------------------------------------------------------------


def test_unknown_required_course_is_named_with_its_path() -> None:
    mapping = demo()
    levels_of(mapping)[1]["requires"]["courses"][0]["course"] = "policy-999"
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    error = caught.value
    assert (
        str(error) == "tracks[0].levels[1].requires.courses[0].course: unknown course 'policy-999'"
    )
    assert (error.reference, error.kind, error.path) == (
        "policy-999",
        "course",
        "tracks[0].levels[1].requires.courses[0].course",
    )


def test_unknown_elective_course() -> None:
    mapping = demo()
    levels_of(mapping)[1]["requires"]["electives"]["from"][3] = "juggling-101"
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    assert caught.value.path == "tracks[0].levels[1].requires.electives.from[3]"
    assert caught.value.reference == "juggling-101"


def test_unknown_renewal_course() -> None:
    mapping = demo()
    levels_of(mapping)[0]["renewal"]["courses"] = ["policy-refresher", "refresher-2"]
    with pytest.raises(
        UnknownReference, match=r"renewal\.courses\[1\]: unknown course 'refresher-2'"
    ):
        validate(mapping)


def test_unknown_prerequisite_level() -> None:
    mapping = demo()
    levels_of(mapping)[2]["requires"]["levels"] = ["social-media/foundations", "social-media/guru"]
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    assert (
        str(caught.value)
        == "tracks[0].levels[2].requires.levels[1]: unknown level 'social-media/guru'"
    )
    assert caught.value.kind == "level"


def test_unknown_level_in_a_program_expression() -> None:
    mapping = demo()
    mapping["programs"][3]["requires"] = {
        "all_of": [
            "social-media/black-belt",
            {"any_of": ["social-media/foundations", "crisis/responder"]},
        ]
    }
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    assert (
        str(caught.value)
        == "programs[3].requires.all_of[1].any_of[1]: unknown level 'crisis/responder'"
    )


def test_unknown_level_in_a_role_mandate() -> None:
    mapping = demo()
    mapping["roles"][1]["mandatory"].append({"level": "social-media/expert", "within": "P90D"})
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    assert str(caught.value) == "roles[1].mandatory[1].level: unknown level 'social-media/expert'"


def test_the_first_problem_in_document_order_is_reported() -> None:
    mapping = demo()
    mapping["roles"][0]["mandatory"][0]["level"] = "social-media/nope"
    mapping["programs"][0]["requires"] = "social-media/nope"
    levels_of(mapping)[2]["requires"]["courses"][0]["course"] = "nope-301"
    levels_of(mapping)[0]["renewal"]["courses"] = ["nope-refresher"]
    with pytest.raises(UnknownReference) as caught:
        validate(mapping)
    assert caught.value.reference == "nope-refresher"  # level 0 comes before level 2
    levels_of(mapping)[0]["renewal"]["courses"] = ["policy-refresher"]
    with pytest.raises(UnknownReference, match="nope-301"):
        validate(mapping)
    levels_of(mapping)[2]["requires"]["courses"][0]["course"] = "crisis-301"
    with pytest.raises(UnknownReference, match=r"^programs\[0\]"):
        validate(mapping)


# --- duplicates and other rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "path", "kind", "duplicate"),
    [
        (
            lambda m: m["courses"][4].update(id="policy-101"),
            "courses[4].id",
            "course",
            "policy-101",
        ),
        (
            lambda m: with_other_track(m).__getitem__("tracks")[1].update(id="social-media"),
            "tracks[1].id",
            "track",
            "social-media",
        ),
        (
            lambda m: levels_of(m)[2].update(id="foundations"),
            "tracks[0].levels[2].id",
            "level",
            "foundations",
        ),
        (
            lambda m: m["programs"][3].update(id="run-paid-campaigns"),
            "programs[3].id",
            "program",
            "run-paid-campaigns",
        ),
        (
            lambda m: m["roles"][1].update(id="community-manager"),
            "roles[1].id",
            "role",
            "community-manager",
        ),
        (
            lambda m: levels_of(m)[0]["requires"]["courses"].append({"course": "policy-101"}),
            "tracks[0].levels[0].requires.courses[2].course",
            "course",
            "policy-101",
        ),
        (
            lambda m: levels_of(m)[1]["requires"]["electives"]["from"].append("analytics-201"),
            "tracks[0].levels[1].requires.electives.from[4]",
            "course",
            "analytics-201",
        ),
        (
            lambda m: m["roles"][0]["mandatory"].append(
                {"level": "social-media/practitioner", "within": "P1Y"}
            ),
            "roles[0].mandatory[1].level",
            "level",
            "social-media/practitioner",
        ),
    ],
)
def test_duplicate_ids_are_refused(edit: Any, path: str, kind: str, duplicate: str) -> None:
    mapping = demo()
    edit(mapping)
    with pytest.raises(DuplicateId) as caught:
        validate(mapping)
    assert (caught.value.path, caught.value.kind, caught.value.id) == (path, kind, duplicate)
    assert f"duplicate {kind} {duplicate!r}" in str(caught.value)


def test_the_same_level_id_in_two_tracks_is_fine() -> None:
    mapping = with_other_track(demo(), simple_level("foundations", 1))
    validate(mapping)


def test_ranks_are_unique_within_a_track() -> None:
    mapping = demo()
    levels_of(mapping)[2]["rank"] = 2
    with pytest.raises(CatalogError) as caught:
        validate(mapping)
    assert type(caught.value) is CatalogError
    assert (
        str(caught.value)
        == "tracks[0].levels[2].rank: rank 2 is already used by level 'practitioner'"
    )
    # the same rank in another track is fine
    validate(with_other_track(demo(), simple_level("one", 2)))


def test_an_elective_may_not_also_be_required() -> None:
    mapping = demo()
    levels_of(mapping)[1]["requires"]["courses"].append({"course": "analytics-201"})
    with pytest.raises(CatalogError, match=r"electives\.from\[1\]: course 'analytics-201' is both"):
        validate(mapping)


def test_renewal_needs_an_expiry() -> None:
    mapping = demo()
    del levels_of(mapping)[0]["valid_for"]
    with pytest.raises(
        CatalogError, match=r"^tracks\[0\]\.levels\[0\]\.renewal: renewal needs valid_for"
    ):
        validate(mapping)


def test_a_level_must_require_something() -> None:
    mapping = with_other_track(demo(), {"id": "free", "name": "Free", "rank": 1, "requires": {}})
    with pytest.raises(
        CatalogError, match=r"^tracks\[1\]\.levels\[0\]\.requires: a level must require"
    ):
        validate(mapping)
    # a level above another requires that one, which is enough
    mapping = with_other_track(
        demo(), simple_level("one", 1), {"id": "two", "name": "Two", "rank": 2, "requires": {}}
    )
    validate(mapping)


# --- prerequisite cycles -------------------------------------------------------------------


def test_two_level_cycle_across_tracks() -> None:
    mapping = demo()
    levels_of(mapping)[0]["requires"]["levels"] = ["other/b"]
    with_other_track(mapping, simple_level("b", 1, "social-media/foundations"))
    with pytest.raises(PrerequisiteCycle) as caught:
        validate(mapping)
    assert caught.value.cycle == ["social-media/foundations", "other/b", "social-media/foundations"]
    assert "social-media/foundations → other/b → social-media/foundations" in str(caught.value)
    assert caught.value.path == "tracks[0].levels[0].requires"


def test_three_level_cycle_across_three_tracks() -> None:
    mapping = demo()
    levels_of(mapping)[0]["requires"]["levels"] = ["other/b"]
    with_other_track(mapping, simple_level("b", 1, "third/c"))
    mapping["tracks"].append(
        {
            "id": "third",
            "name": "Third",
            "levels": [simple_level("c", 1, "social-media/foundations")],
        }
    )
    with pytest.raises(
        PrerequisiteCycle,
        match="social-media/foundations → other/b → third/c → social-media/foundations",
    ):
        validate(mapping)


def test_cycle_through_the_implied_previous_rank() -> None:
    # foundations requires black-belt explicitly; black-belt implies practitioner, which
    # implies foundations
    mapping = demo()
    levels_of(mapping)[0]["requires"]["levels"] = ["social-media/black-belt"]
    with pytest.raises(PrerequisiteCycle) as caught:
        validate(mapping)
    assert caught.value.cycle == [
        "social-media/foundations",
        "social-media/black-belt",
        "social-media/practitioner",
        "social-media/foundations",
    ]


def test_inherit_previous_false_breaks_the_implied_cycle() -> None:
    mapping = demo()
    levels_of(mapping)[0]["requires"]["levels"] = ["social-media/black-belt"]
    levels_of(mapping)[1]["requires"]["inherit_previous"] = False
    validate(mapping)


def test_a_level_requiring_itself_is_a_cycle() -> None:
    mapping = demo()
    levels_of(mapping)[1]["requires"]["levels"] = ["social-media/practitioner"]
    with pytest.raises(
        PrerequisiteCycle, match="social-media/practitioner → social-media/practitioner"
    ):
        validate(mapping)


def test_cycle_errors_are_distinguishable_from_validation_errors() -> None:
    assert issubclass(PrerequisiteCycle, CatalogError)
    for cls in (UnknownReference, DuplicateId, InvalidDocument):
        assert not issubclass(cls, PrerequisiteCycle)
    assert (
        len(
            {
                cls.code
                for cls in (
                    CatalogError,
                    InvalidDocument,
                    DuplicateId,
                    UnknownReference,
                    PrerequisiteCycle,
                )
            }
        )
        == 5
    )


# --- load_catalog: one call, one exception tree --------------------------------------------


def test_load_catalog_reports_shape_errors_with_document_paths() -> None:
    text = load_demo_catalog().to_yaml()
    assert load_catalog(text) == load_demo_catalog()
    with pytest.raises(InvalidDocument) as caught:
        load_catalog(text.replace("valid_for: P1Y", "valid_for: 1Y"))
    assert caught.value.path == "tracks[0].levels[0].valid_for"
    assert "not an ISO 8601 duration" in caught.value.message
    mapping = demo()
    mapping["programs"][2]["requires"] = {"any_of": ["social-media/practitioner", {"none_of": []}]}
    with pytest.raises(InvalidDocument) as caught:
        load_catalog(mapping)
    assert caught.value.path == "programs[2].requires.any_of[1]"
    with pytest.raises(InvalidDocument, match="not valid YAML"):
        load_catalog("courses: [")
    mapping = demo()
    mapping["courses"][0]["id"] = "missing"
    with pytest.raises(UnknownReference):
        load_catalog(mapping)


# --- find_cycle and speed ------------------------------------------------------------------


def test_find_cycle_basics() -> None:
    assert find_cycle({}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}) is None  # a diamond
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
    assert find_cycle({"x": ["a"], "a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"b": ["a"], "a": ["b"]}) == ["b", "a", "b"]
    # entered at p from r, reported from q: the cycle's node that comes first in the mapping
    assert find_cycle({"r": ["p"], "q": ["p"], "p": ["q"]}) == ["q", "p", "q"]
    assert find_cycle({"a": ["missing"]}) is None


graphs = st.dictionaries(st.integers(0, 12), st.lists(st.integers(0, 12), max_size=4), max_size=13)


@settings(max_examples=300)
@given(graphs)
def test_find_cycle_agrees_with_a_topological_sort(graph: dict[int, list[int]]) -> None:
    cycle = find_cycle(graph)
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
        acyclic = True
    except graphlib.CycleError:
        acyclic = False
    assert (cycle is None) == acyclic
    if cycle is not None:
        assert cycle[0] == cycle[-1]
        assert len(set(cycle[:-1])) == len(cycle) - 1  # a simple cycle
        for node, successor in itertools.pairwise(cycle):
            assert successor in graph.get(node, [])


def catalog_at_the_limits(close_cycle: bool) -> dict[str, Any]:
    courses = [{"id": f"course-{i}", "name": f"Course {i}"} for i in range(1_000)]
    tracks = []
    for t in range(100):
        levels = []
        for r in range(1, 51):
            i = t * 50 + r
            requires: dict[str, Any] = {
                "courses": [{"course": f"course-{(i * 3 + k) % 500}"} for k in range(10)],
                "electives": {
                    "pick": 2,
                    "from": [f"course-{500 + (i * 3 + k) % 500}" for k in range(5)],
                },
                "levels": [f"track-{t - 1}/level-50"] if t and r == 1 else [],
            }
            if close_cycle and t == 0 and r == 1:
                requires["levels"] = ["track-99/level-50"]
            levels.append(
                {
                    "id": f"level-{r}",
                    "name": f"Level {r}",
                    "rank": r,
                    "requires": requires,
                    "valid_for": "P1Y",
                }
            )
        tracks.append({"id": f"track-{t}", "name": f"Track {t}", "levels": levels})
    level_ids = [f"track-{t}/level-{r}" for t in range(100) for r in (1, 25, 50)]
    programs = [
        {"id": f"program-{p}", "name": f"Program {p}", "requires": {"any_of": level_ids[p : p + 5]}}
        for p in range(200)
    ]
    roles = [
        {"id": f"role-{r}", "mandatory": [{"level": level_ids[r], "within": "P60D"}]}
        for r in range(200)
    ]
    return {"courses": courses, "tracks": tracks, "programs": programs, "roles": roles}


def test_a_catalog_at_the_limits_validates_quickly() -> None:
    doc = CatalogDocument.from_mapping(catalog_at_the_limits(close_cycle=False))
    start = time.perf_counter()
    validate_catalog(doc)
    assert time.perf_counter() - start < 1.0


def test_a_5000_level_cycle_is_found_without_recursion_limits() -> None:
    doc = CatalogDocument.from_mapping(catalog_at_the_limits(close_cycle=True))
    with pytest.raises(PrerequisiteCycle) as caught:
        validate_catalog(doc)
    assert len(caught.value.cycle) == 5_001
    assert caught.value.cycle[0] == caught.value.cycle[-1] == "track-0/level-1"
