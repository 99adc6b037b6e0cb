"""Single-object catalog endpoints: create/get/list/update/archive/delete per kind, ETags and
If-Match, level versions, and deletes refused while something refers to the object."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session

from service.catalog.document import DEMO_CATALOG_PATH, load_demo_catalog
from service.models import Completion, Credential

PROBLEM = "application/problem+json"
LEVELS = "/v1/tracks/social-media/levels"


@pytest.fixture
def demo(client, admin_headers) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The demo catalog, applied; returns its mapping."""
    response = client.put(
        "/v1/catalog",
        content=DEMO_CATALOG_PATH.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text
    return copy.deepcopy(load_demo_catalog().to_mapping())


def audit_actions(client, headers) -> list[str]:  # type: ignore[no-untyped-def]
    page = client.get("/v1/audit/events?limit=500", headers=headers).json()
    return [f"{e['action']} {e['subject']}" for e in page["items"]]


def level_def(demo: dict[str, Any], slug: str) -> dict[str, Any]:
    return copy.deepcopy(next(lv for lv in demo["tracks"][0]["levels"] if lv["id"] == slug))


def add_learner(client, headers, learner_id: str = "emp-1") -> None:  # type: ignore[no-untyped-def]
    assert client.put(f"/v1/learners/{learner_id}", json={}, headers=headers).status_code in (
        200,
        201,
    )


def add_completion(database, course_id: str, learner_id: str = "emp-1") -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with Session(database.engine) as session:
        session.add(
            Completion(
                id=str(uuid.uuid4()),
                learner_id=learner_id,
                course_id=course_id,
                completed_at=now,
                source="test",
                request_hash="0" * 64,
                received_at=now,
            )
        )
        session.commit()


def add_credential(database, level_id: str, learner_id: str = "emp-1") -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    with Session(database.engine) as session:
        session.add(
            Credential(
                id=f"urn:uuid:{uuid.uuid4()}",
                learner_id=learner_id,
                level_id=level_id,
                level_version=1,
                issued_at=now,
                valid_from=now,
                status="active",
                evidence=[],
                kid="test",
                jwt="x.y.z",
            )
        )
        session.commit()


# ---------------------------------------------------------------- create, read, list


def test_course_create_get_list_with_cursor(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    for n in range(5):
        created = client.post(
            "/v1/courses", json={"id": f"c-{n}", "name": f"Course {n}"}, headers=admin_headers
        )
        assert created.status_code == 201, created.text
        assert created.headers["etag"] == '"1"'
        assert created.json()["revision"] == 1
    got = client.get("/v1/courses/c-3", headers=admin_headers)
    assert got.status_code == 200 and got.json()["name"] == "Course 3"
    assert got.headers["etag"] == '"1"'

    seen: list[str] = []
    cursor = None
    while True:
        url = "/v1/courses?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=admin_headers).json()
        seen += [c["id"] for c in page["items"]]
        assert len(page["items"]) <= 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"c-{n}" for n in range(5)]

    duplicate = client.post("/v1/courses", json={"id": "c-1", "name": "x"}, headers=admin_headers)
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == PROBLEM
    assert "create c-1" not in " ".join(audit_actions(client, admin_headers))
    assert client.get("/v1/courses/c-1", headers=admin_headers).json()["name"] == "Course 1"


def test_track_with_levels_created_in_one_call(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/courses", json={"id": "intro", "name": "Intro"}, headers=admin_headers)
    client.post("/v1/courses", json={"id": "deep", "name": "Deep"}, headers=admin_headers)
    track = {
        "id": "events",
        "name": "Events",
        "levels": [
            {
                "id": "host",
                "name": "Host",
                "rank": 2,
                "requires": {"courses": [{"course": "deep"}]},
            },
            {
                "id": "basic",
                "name": "Basic",
                "rank": 1,
                "requires": {"courses": [{"course": "intro"}]},
            },
        ],
    }
    created = client.post("/v1/tracks", json=track, headers=admin_headers)
    assert created.status_code == 201, created.text
    assert created.json()["levels"] == ["events/basic", "events/host"]  # by rank
    host = client.get("/v1/tracks/events/levels/host", headers=admin_headers).json()
    assert host["prerequisites"] == ["events/basic"]  # the level ranked below, implied
    listed = client.get("/v1/tracks/events/levels", headers=admin_headers).json()
    assert [lv["id"] for lv in listed["items"]] == ["events/basic", "events/host"]

    level = {"id": "lead", "name": "Lead", "rank": 3, "requires": {"courses": [{"course": "deep"}]}}
    added = client.post("/v1/tracks/events/levels", json=level, headers=admin_headers)
    assert added.status_code == 201, added.text
    assert added.json()["prerequisites"] == ["events/host"]
    again = client.post("/v1/tracks/events/levels", json=level, headers=admin_headers)
    assert again.status_code == 409
    missing = client.post("/v1/tracks/nope/levels", json=level, headers=admin_headers)
    assert missing.status_code == 404


def test_unknown_objects_are_404_problems(client, admin_headers, demo) -> None:  # type: ignore[no-untyped-def]
    for method, url in [
        ("GET", "/v1/courses/nope"),
        ("GET", "/v1/tracks/nope"),
        ("GET", "/v1/programs/nope"),
        ("GET", "/v1/roles/nope"),
        ("GET", f"{LEVELS}/nope"),
        ("GET", f"{LEVELS}/nope/versions"),
        ("GET", "/v1/tracks/nope/levels"),
        ("DELETE", "/v1/courses/nope"),
        ("POST", "/v1/roles/nope/archive"),
        ("PUT", "/v1/programs/nope"),
    ]:
        body = {"id": "nope", "name": "x", "requires": "social-media/foundations"}
        response = client.request(
            method, url, headers=admin_headers, json=body if method == "PUT" else None
        )
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == PROBLEM


# ---------------------------------------------------------------- If-Match


def _updates(demo: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    course = {**demo["courses"][0], "name": "Policy essentials, 2nd edition"}
    program = {**demo["programs"][0], "name": "Post on brand accounts (all brands)"}
    role = {**demo["roles"][0], "name": "Community manager"}
    level = {**level_def(demo, "foundations"), "name": "Foundations"}
    return [
        ("/v1/courses/policy-101", course),
        ("/v1/programs/post-on-brand-accounts", program),
        ("/v1/roles/community-manager", role),
        (f"{LEVELS}/foundations", level),
        ("/v1/tracks/social-media", {"name": "Social media", "description": "All of it"}),
    ]


@pytest.mark.parametrize("index", range(5), ids=["course", "program", "role", "level", "track"])
def test_stale_if_match_is_412_and_current_etag_succeeds(  # type: ignore[no-untyped-def]
    client, admin_headers, demo, index
) -> None:
    url, body = _updates(demo)[index]
    etag = client.get(url, headers=admin_headers).headers["etag"]
    assert etag == '"1"'

    first = client.put(url, json=body, headers={**admin_headers, "If-Match": etag})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"2"' and first.json()["revision"] == 2
    assert first.json()["name"] == body["name"]

    stale = client.put(
        url, json={**body, "name": "Lost update"}, headers={**admin_headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["type"].endswith("/precondition-failed")
    assert stale.json()["current_etag"] == '"2"'
    current = client.get(url, headers=admin_headers)
    assert current.json()["name"] == body["name"] and current.headers["etag"] == '"2"'

    weak = client.put(
        url, json={**body, "name": "Third"}, headers={**admin_headers, "If-Match": 'W/"2"'}
    )
    assert weak.status_code == 200 and weak.json()["name"] == "Third"


def test_update_with_a_different_id_in_the_body_is_422(client, admin_headers, demo) -> None:  # type: ignore[no-untyped-def]
    body = {**demo["courses"][0], "id": "other"}
    response = client.put("/v1/courses/policy-101", json=body, headers=admin_headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert client.get("/v1/courses/other", headers=admin_headers).status_code == 404


# ---------------------------------------------------------------- level versions


def test_requirement_change_makes_a_new_version_name_change_does_not(  # type: ignore[no-untyped-def]
    client, admin_headers, demo
) -> None:
    url = f"{LEVELS}/foundations"
    level = level_def(demo, "foundations")
    renamed = client.put(url, json={**level, "name": "Foundations"}, headers=admin_headers)
    assert renamed.status_code == 200
    assert renamed.json()["version"] == 1
    assert len(client.get(f"{url}/versions", headers=admin_headers).json()) == 1

    stricter = copy.deepcopy(level)
    stricter["name"] = "Foundations"
    stricter["requires"]["courses"][0]["min_score"] = 90
    changed = client.put(url, json=stricter, headers=admin_headers)
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert changed.json()["requires"]["courses"][0] == {"course": "policy-101", "min_score": 90}

    versions = client.get(f"{url}/versions", headers=admin_headers).json()
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0]["rules"]["requires"]["courses"][0]["min_score"] == 80  # old one readable
    assert versions[1]["rules"]["requires"]["courses"][0]["min_score"] == 90

    reordered = copy.deepcopy(stricter)
    reordered["requires"]["courses"].reverse()  # same rules, different order: no new version
    reordered["valid_for"] = "P12M"  # the same as P1Y
    same = client.put(url, json=reordered, headers=admin_headers)
    assert same.status_code == 200 and same.json()["version"] == 2

    actions = audit_actions(client, admin_headers)
    assert actions.count("catalog.level.changed level:social-media/foundations") == 3


def test_changing_ranks_bumps_the_levels_whose_implied_prerequisite_moved(  # type: ignore[no-untyped-def]
    client, admin_headers, demo
) -> None:
    doc = copy.deepcopy(demo)
    levels = doc["tracks"][0]["levels"]
    levels.insert(
        1,
        {
            "id": "associate",
            "name": "Associate",
            "rank": 2,
            "requires": {"courses": [{"course": "disclosure-101"}]},
        },
    )
    levels[2]["rank"], levels[3]["rank"] = 3, 4
    response = client.put("/v1/catalog", json=doc, headers=admin_headers)
    assert response.status_code == 200, response.text
    practitioner = client.get(f"{LEVELS}/practitioner", headers=admin_headers).json()
    assert practitioner["prerequisites"] == ["social-media/associate"]
    assert practitioner["version"] == 2
    black_belt = client.get(f"{LEVELS}/black-belt", headers=admin_headers).json()
    assert black_belt["version"] == 1  # its rank moved, its prerequisite did not


# ---------------------------------------------------------------- delete and archive


def test_delete_is_refused_while_a_level_uses_the_course(client, admin_headers, demo) -> None:  # type: ignore[no-untyped-def]
    before = client.get("/v1/catalog", headers=admin_headers)
    for response in (
        client.delete("/v1/courses/disclosure-101", headers=admin_headers),
        client.post("/v1/courses/disclosure-101/archive", headers=admin_headers),
    ):
        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/catalog-in-use")
        assert "tracks[0].levels[1].requires.courses[0].course" in response.json()["detail"]
    after = client.get("/v1/catalog", headers=admin_headers)
    assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]

    # once the level no longer uses it, the course can go
    practitioner = level_def(demo, "practitioner")
    practitioner["requires"]["courses"] = []
    updated = client.put(f"{LEVELS}/practitioner", json=practitioner, headers=admin_headers)
    assert updated.status_code == 200, updated.text
    deleted = client.delete("/v1/courses/disclosure-101", headers=admin_headers)
    assert deleted.status_code == 204
    assert client.get("/v1/courses/disclosure-101", headers=admin_headers).status_code == 404
    assert "catalog.course.deleted course:disclosure-101" in audit_actions(client, admin_headers)


def test_an_unreferenced_object_is_deleted(client, admin_headers, demo) -> None:  # type: ignore[no-untyped-def]
    created = client.post(
        "/v1/courses", json={"id": "spare", "name": "Spare"}, headers=admin_headers
    )
    assert created.status_code == 201
    etag = client.get("/v1/catalog", headers=admin_headers).headers["etag"]
    assert client.delete("/v1/courses/spare", headers=admin_headers).status_code == 204
    assert client.get("/v1/courses/spare", headers=admin_headers).status_code == 404
    assert client.get("/v1/catalog", headers=admin_headers).headers["etag"] != etag
    assert client.delete("/v1/programs/respond-to-crisis", headers=admin_headers).status_code == 204
    assert client.delete("/v1/roles/marketing", headers=admin_headers).status_code == 204
    ids = {p["id"] for p in client.get("/v1/catalog", headers=admin_headers).json()["programs"]}
    assert "respond-to-crisis" not in ids
    # the id is free again
    again = client.post(
        "/v1/courses", json={"id": "spare", "name": "Spare 2"}, headers=admin_headers
    )
    assert again.status_code == 201


def test_a_level_named_by_a_program_or_role_cannot_be_deleted(client, admin_headers, demo) -> None:  # type: ignore[no-untyped-def]
    refused = client.delete(f"{LEVELS}/practitioner", headers=admin_headers)
    assert refused.status_code == 409
    assert refused.json()["referenced_by"].startswith(("programs[", "tracks[", "roles["))
    track = client.delete("/v1/tracks/social-media", headers=admin_headers)
    assert track.status_code == 409
    assert client.get(f"{LEVELS}/practitioner", headers=admin_headers).status_code == 200

    # black-belt: drop the two programs naming it, then it goes (nothing ranks above it)
    for program in ("host-live-events", "respond-to-crisis"):
        assert client.delete(f"/v1/programs/{program}", headers=admin_headers).status_code == 204
    assert client.delete(f"{LEVELS}/black-belt", headers=admin_headers).status_code == 204
    assert client.get(f"{LEVELS}/black-belt", headers=admin_headers).status_code == 404
    assert client.get(f"{LEVELS}/black-belt/versions", headers=admin_headers).status_code == 404


def test_used_objects_cannot_be_deleted_but_can_be_archived(  # type: ignore[no-untyped-def]
    client, admin_headers, demo, database
) -> None:
    # a course with completions: no level uses it any more, but history does
    add_learner(client, admin_headers)
    client.post("/v1/courses", json={"id": "retired", "name": "Retired"}, headers=admin_headers)
    add_completion(database, "retired")
    refused = client.delete("/v1/courses/retired", headers=admin_headers)
    assert refused.status_code == 409
    assert "completions" in refused.json()["detail"] and "Archive" in refused.json()["detail"]
    archived = client.post("/v1/courses/retired/archive", headers=admin_headers)
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    assert archived.headers["etag"] == '"2"'
    exported = client.get("/v1/catalog", headers=admin_headers).json()
    assert "retired" not in {c["id"] for c in exported["courses"]}
    assert client.get("/v1/courses/retired", headers=admin_headers).status_code == 200
    again = client.post("/v1/courses/retired/archive", headers=admin_headers)
    assert again.status_code == 409
    stale_update = client.put(
        "/v1/courses/retired", json={"id": "retired", "name": "Back"}, headers=admin_headers
    )
    assert stale_update.status_code == 409
    recreate = client.post(
        "/v1/courses", json={"id": "retired", "name": "R"}, headers=admin_headers
    )
    assert recreate.status_code == 409

    # a level with credentials: not deletable, archivable once nothing active names it
    add_credential(database, "social-media/black-belt")
    for program in ("host-live-events", "respond-to-crisis"):
        client.delete(f"/v1/programs/{program}", headers=admin_headers)
    refused = client.delete(f"{LEVELS}/black-belt", headers=admin_headers)
    assert refused.status_code == 409 and "credentials" in refused.json()["detail"]
    archived = client.post(f"{LEVELS}/black-belt/archive", headers=admin_headers)
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived_at"] is not None
    versions = client.get(f"{LEVELS}/black-belt/versions", headers=admin_headers).json()
    assert [v["version"] for v in versions] == [1]
    track = client.get("/v1/tracks/social-media", headers=admin_headers).json()
    assert track["levels"] == ["social-media/foundations", "social-media/practitioner"]
    listed = client.get(f"{LEVELS}?include_archived=true", headers=admin_headers).json()
    assert "social-media/black-belt" in [lv["id"] for lv in listed["items"]]
    assert client.delete("/v1/tracks/social-media", headers=admin_headers).status_code == 409
