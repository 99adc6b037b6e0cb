"""Diff between two catalogs: exactly what applying the desired document would change."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalog.diff import CatalogDiff, FieldChange, ObjectChange, diff_catalogs
from service.catalog.document import CatalogDocument, load_demo_catalog


def demo_mapping() -> dict[str, Any]:
    return copy.deepcopy(load_demo_catalog().to_mapping())


def diff_to(mapping: dict[str, Any]) -> CatalogDiff:
    return diff_catalogs(load_demo_catalog(), CatalogDocument.from_mapping(mapping))


def keyed(diff: CatalogDiff) -> dict[tuple[str, str], str]:
    return {(entry.kind, entry.id): entry.action for entry in diff.entries}


def test_identical_catalogs_have_an_empty_diff() -> None:
    doc = load_demo_catalog()
    diff = diff_catalogs(doc, load_demo_catalog())
    assert diff.is_empty
    assert diff.entries == ()
    assert diff.to_mapping() == {
        "changes": [],
        "summary": {"created": 0, "changed": 0, "archived": 0},
    }
    assert diff.render_text() == "no changes"


def test_applying_the_same_document_twice_changes_nothing_the_second_time() -> None:
    desired = demo_mapping()
    desired["courses"].append({"id": "new-101", "name": "New"})
    first = diff_to(desired)
    assert not first.is_empty
    applied = CatalogDocument.from_mapping(desired)  # what the service holds afterwards
    assert diff_catalogs(applied, CatalogDocument.from_mapping(copy.deepcopy(desired))).is_empty


def test_an_edited_demo_gives_exactly_the_expected_entries() -> None:
    desired = demo_mapping()
    desired["courses"][0]["name"] = "Social media policy, the essentials"
    desired["courses"].append({"id": "ads-401", "name": "Advanced paid social"})
    desired["tracks"][0]["levels"][0]["valid_for"] = "P2Y"
    del desired["programs"][2]  # host-live-events
    desired["roles"][0]["mandatory"][0]["within"] = "P90D"

    diff = diff_to(desired)

    assert [entry.to_mapping() for entry in diff.entries] == [
        {
            "kind": "course",
            "id": "policy-101",
            "action": "changed",
            "name": "Social media policy, the essentials",
            "changes": {
                "name": {
                    "from": "Social media policy essentials",
                    "to": "Social media policy, the essentials",
                }
            },
        },
        {"kind": "course", "id": "ads-401", "action": "created", "name": "Advanced paid social"},
        {
            "kind": "level",
            "id": "social-media/foundations",
            "action": "changed",
            "name": "Social Media Foundations",
            "changes": {"valid_for": {"from": "P1Y", "to": "P2Y"}},
            "version_bump": True,
        },
        {
            "kind": "program",
            "id": "host-live-events",
            "action": "archived",
            "name": "Host live streams and events",
        },
        {
            "kind": "role",
            "id": "community-manager",
            "action": "changed",
            "changes": {
                "mandatory": {
                    "from": [{"level": "social-media/practitioner", "within": "P60D"}],
                    "to": [{"level": "social-media/practitioner", "within": "P90D"}],
                }
            },
        },
    ]
    assert diff.summary() == {"created": 1, "changed": 3, "archived": 1}
    assert diff.render_text().splitlines() == [
        '~ course policy-101: name "Social media policy essentials" → '
        '"Social media policy, the essentials"',
        '+ course ads-401 "Advanced paid social"',
        "~ level social-media/foundations: valid_for P1Y → P2Y (new version)",
        "- program host-live-events (archived)",
        "~ role community-manager: mandatory [social-media/practitioner within P60D] → "
        "[social-media/practitioner within P90D]",
    ]
    json.dumps(diff.to_mapping())  # JSON-able


def test_version_bump_only_for_rule_changes() -> None:
    desired = demo_mapping()
    foundations, practitioner, black_belt = desired["tracks"][0]["levels"]
    foundations["name"] = "Foundations"
    foundations["description"] = "Reworded."
    practitioner["requires"]["electives"]["pick"] = 3
    black_belt["recency"] = "P3Y"
    diff = diff_to(desired)
    levels = {entry.id: entry for entry in diff.of_kind("level")}
    assert levels["social-media/foundations"].version_bump is False
    assert set(levels["social-media/foundations"].changes) == {"name", "description"}
    assert levels["social-media/foundations"].changes["description"] == FieldChange(
        "Knows the social media policy and the brand voice; may post on brand accounts.",
        "Reworded.",
    )
    assert levels["social-media/practitioner"].version_bump is True
    assert set(levels["social-media/practitioner"].changes) == {"requires.electives"}
    assert levels["social-media/practitioner"].changes["requires.electives"].new["pick"] == 3
    assert levels["social-media/black-belt"].version_bump is True
    assert levels["social-media/black-belt"].render() == (
        "~ level social-media/black-belt: recency none → P3Y (new version)"
    )
    # kinds other than levels carry no version_bump
    assert all(entry.version_bump is None for entry in diff.entries if entry.kind != "level")


def test_requirement_changes_are_reported_per_part_of_requires() -> None:
    desired = demo_mapping()
    foundations = desired["tracks"][0]["levels"][0]
    foundations["requires"]["courses"][0]["min_score"] = 90
    foundations["renewal"]["grace"] = "P14D"
    diff = diff_to(desired)
    entry = diff.get("level", "social-media/foundations")
    assert entry is not None
    assert set(entry.changes) == {"requires.courses", "renewal"}
    assert entry.changes["requires.courses"].old[0] == {"course": "policy-101", "min_score": 80}
    assert entry.changes["requires.courses"].new[0] == {"course": "policy-101", "min_score": 90}
    assert entry.changes["renewal"] == FieldChange(
        {"courses": ["policy-refresher"], "window": "P60D", "grace": "P30D"},
        {"courses": ["policy-refresher"], "window": "P60D", "grace": "P14D"},
    )
    assert entry.version_bump is True


def test_reordering_lists_that_are_sets_is_not_a_change() -> None:
    desired = demo_mapping()
    desired["tracks"][0]["levels"][0]["requires"]["courses"].reverse()
    desired["tracks"][0]["levels"][1]["requires"]["electives"]["from"].reverse()
    desired["tracks"][0]["levels"].reverse()
    desired["courses"].reverse()
    desired["programs"].reverse()
    assert diff_to(desired).is_empty


def test_equivalent_duration_spelling_is_a_change_but_not_a_new_version() -> None:
    desired = demo_mapping()
    desired["tracks"][0]["levels"][0]["valid_for"] = "P12M"
    entry = diff_to(desired).get("level", "social-media/foundations")
    assert entry is not None
    assert entry.changes == {"valid_for": FieldChange("P1Y", "P12M")}
    assert entry.version_bump is False


def test_inserting_a_level_below_another_changes_its_implied_prerequisite() -> None:
    desired = demo_mapping()
    levels = desired["tracks"][0]["levels"]
    levels[1]["rank"], levels[2]["rank"] = 3, 4
    levels.insert(
        1,
        {
            "id": "contributor",
            "name": "Contributor",
            "rank": 2,
            "requires": {"courses": [{"course": "disclosure-101"}]},
        },
    )
    diff = diff_to(desired)
    assert keyed(diff) == {
        ("level", "social-media/contributor"): "created",
        ("level", "social-media/practitioner"): "changed",
        ("level", "social-media/black-belt"): "changed",
    }
    practitioner = diff.get("level", "social-media/practitioner")
    assert practitioner is not None
    assert practitioner.changes["implied_prerequisite"] == FieldChange(
        "social-media/foundations", "social-media/contributor"
    )
    assert practitioner.version_bump is True  # it now requires another level to be held
    black_belt = diff.get("level", "social-media/black-belt")
    assert black_belt is not None
    assert set(black_belt.changes) == {"rank"}  # renumbered, still above practitioner
    assert black_belt.version_bump is False
    created = diff.get("level", "social-media/contributor")
    assert created == ObjectChange(
        "level", "social-media/contributor", "created", name="Contributor", version_bump=False
    )


def test_archiving_a_track_archives_its_levels_and_renaming_a_track_is_not_a_level_change() -> None:
    desired = demo_mapping()
    desired["tracks"][0]["name"] = "Social Media"
    assert keyed(diff_to(desired)) == {("track", "social-media"): "changed"}
    desired["tracks"] = []
    desired["programs"] = []
    desired["roles"] = []
    diff = diff_to(desired)
    assert [entry.render() for entry in diff.of_kind("track") + diff.of_kind("level")] == [
        "- track social-media (archived)",
        "- level social-media/foundations (archived)",
        "- level social-media/practitioner (archived)",
        "- level social-media/black-belt (archived)",
    ]
    assert diff.summary() == {"created": 0, "changed": 0, "archived": 10}


def test_from_empty_everything_is_created_in_kind_order() -> None:
    diff = diff_catalogs(CatalogDocument(), load_demo_catalog())
    assert [entry.kind for entry in diff.entries] == (
        ["course"] * 11 + ["track"] + ["level"] * 3 + ["program"] * 4 + ["role"] * 2
    )
    assert {entry.action for entry in diff.entries} == {"created"}
    assert diff.render_text().splitlines()[0] == (
        '+ course policy-101 "Social media policy essentials"'
    )
    assert diff.render_text().splitlines()[-1] == "+ role marketing"


# --- property: random edits of the demo are reported exactly -------------------------------

edits = st.fixed_dictionaries(
    {
        "rename_courses": st.sets(st.integers(0, 10)),
        "valid_for": st.lists(
            st.sampled_from([None, "P1Y", "P2Y", "P18M"]), min_size=3, max_size=3
        ),
        "drop_programs": st.sets(st.integers(0, 3)),
        "new_courses": st.integers(0, 3),
        "role_within": st.sampled_from(["P30D", "P60D", "P90D"]),
    }
)


@settings(max_examples=80, deadline=None)
@given(edits)
def test_random_edits_are_reported_exactly(edit: dict[str, Any]) -> None:
    current = load_demo_catalog()
    desired = demo_mapping()
    expected: dict[tuple[str, str], str] = {}
    for index in edit["rename_courses"]:
        desired["courses"][index]["name"] += " (2nd edition)"
        expected["course", desired["courses"][index]["id"]] = "changed"
    for n in range(edit["new_courses"]):
        desired["courses"].append({"id": f"extra-{n}", "name": f"Extra {n}"})
        expected["course", f"extra-{n}"] = "created"
    bumped: set[str] = set()
    for level, valid_for in zip(desired["tracks"][0]["levels"], edit["valid_for"], strict=True):
        level_id = f"social-media/{level['id']}"
        if valid_for is None:
            continue
        if valid_for != level.get("valid_for"):
            level["valid_for"] = valid_for
            expected["level", level_id] = "changed"
            bumped.add(level_id)
    for index in sorted(edit["drop_programs"], reverse=True):
        expected["program", desired["programs"].pop(index)["id"]] = "archived"
    desired["roles"][0]["mandatory"][0]["within"] = edit["role_within"]
    if edit["role_within"] != "P60D":
        expected["role", "community-manager"] = "changed"

    diff = diff_catalogs(current, CatalogDocument.from_mapping(desired))

    assert keyed(diff) == expected
    assert {e.id for e in diff.of_kind("level") if e.version_bump} == bumped
    assert diff_catalogs(
        CatalogDocument.from_mapping(desired), CatalogDocument.from_mapping(desired)
    ).is_empty
    reverse = diff_catalogs(CatalogDocument.from_mapping(desired), current)
    opposite = {"created": "archived", "archived": "created", "changed": "changed"}
    assert keyed(reverse) == {key: opposite[action] for key, action in expected.items()}
