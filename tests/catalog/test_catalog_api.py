"""The declarative catalog over HTTP: apply (YAML or JSON), dry-run, idempotence, exact diffs,
cycles and unknown references refused with a problem naming them, scopes."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from service.app import create_app
from service.catalog.document import DEMO_CATALOG_PATH, CatalogDocument, load_demo_catalog

PROBLEM = "application/problem+json"
YAML = {"Content-Type": "application/yaml"}
DEMO_YAML = DEMO_CATALOG_PATH.read_bytes()


def demo_mapping() -> dict[str, Any]:
    return copy.deepcopy(load_demo_catalog().to_mapping())


def put_catalog(client, headers, body: Any, *, dry_run: bool = False, **extra: str):  # type: ignore[no-untyped-def]
    url = "/v1/catalog" + ("?dry_run=true" if dry_run else "")
    if isinstance(body, bytes | str):
        return client.put(url, content=body, headers={**headers, **YAML, **extra})
    return client.put(url, json=body, headers={**headers, **extra})


def audit_events(client, headers) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        response = client.get(f"/v1/audit/events?after={after}&limit=500", headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        events += page["items"]
        if page["next_after"] is None:
            return events
        after = page["next_after"]


def snapshot(client, headers) -> tuple[str, dict[str, Any], int]:  # type: ignore[no-untyped-def]
    """What a user can see of the catalog: its ETag, its document, the audit log's length."""
    response = client.get("/v1/catalog", headers=headers)
    assert response.status_code == 200
    return response.headers["etag"], response.json(), len(audit_events(client, headers))


def same_catalog(left: dict[str, Any], right: dict[str, Any]) -> bool:
    def canonical(m: dict[str, Any]) -> CatalogDocument:
        return CatalogDocument.from_mapping(m).normalized()

    return canonical(left) == canonical(right)


def test_demo_catalog_applies_from_yaml_and_reads_back(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = put_catalog(client, admin_headers, DEMO_YAML)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is True and body["dry_run"] is False
    assert body["summary"] == {"created": 21, "changed": 0, "archived": 0}
    created = {(c["kind"], c["id"]) for c in body["changes"]}
    assert ("level", "social-media/black-belt") in created
    assert ("program", "respond-to-crisis") in created
    assert ("role", "marketing") in created

    got = client.get("/v1/catalog", headers=admin_headers)
    assert got.headers["etag"] == f'"{body["revision"]}"'
    assert same_catalog(got.json(), demo_mapping())

    level = client.get("/v1/tracks/social-media/levels/practitioner", headers=admin_headers)
    assert level.status_code == 200
    assert level.json()["version"] == 1
    assert level.json()["prerequisites"] == ["social-media/foundations"]
    assert level.json()["requires"]["electives"]["pick"] == 2


def test_demo_catalog_applies_from_json(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = put_catalog(client, admin_headers, demo_mapping())
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["created"] == 21
    assert same_catalog(client.get("/v1/catalog", headers=admin_headers).json(), demo_mapping())


def test_dry_run_shows_the_diff_and_writes_nothing(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client, admin_headers)
    dry = put_catalog(client, admin_headers, DEMO_YAML, dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["dry_run"] is True and dry.json()["applied"] is False
    assert dry.json()["summary"] == {"created": 21, "changed": 0, "archived": 0}
    assert snapshot(client, admin_headers) == before
    assert client.get("/v1/courses", headers=admin_headers).json()["items"] == []

    real = put_catalog(client, admin_headers, DEMO_YAML)
    assert real.json()["changes"] == dry.json()["changes"]


def test_second_apply_is_a_no_op_without_audit_events(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    first = put_catalog(client, admin_headers, DEMO_YAML)
    assert first.status_code == 200
    events = audit_events(client, admin_headers)
    catalog_events = [e for e in events if e["action"].startswith("catalog.")]
    assert len(catalog_events) == 21  # one per object
    assert {e["actor"] for e in catalog_events} == {catalog_events[0]["actor"]}
    before = snapshot(client, admin_headers)

    again = put_catalog(client, admin_headers, DEMO_YAML)
    as_json = put_catalog(client, admin_headers, demo_mapping())
    for response in (again, as_json):
        assert response.status_code == 200
        assert response.json()["applied"] is False
        assert response.json()["changes"] == []
        assert response.json()["revision"] == first.json()["revision"]
    assert snapshot(client, admin_headers) == before
    level = client.get("/v1/tracks/social-media/levels/foundations", headers=admin_headers)
    assert level.headers["etag"] == '"1"'


def edited_demo() -> dict[str, Any]:
    """The demo with one change of each sort a program administrator makes."""
    doc = demo_mapping()
    doc["courses"][0]["name"] = "Social media policy (2027)"  # policy-101
    doc["courses"].append({"id": "ethics-101", "name": "Ethics online"})
    levels = doc["tracks"][0]["levels"]
    levels[0]["valid_for"] = "P2Y"  # foundations: a rule
    levels[2]["name"] = "Social Media Black Belt (Expert)"  # black-belt: presentation only
    doc["roles"] = [r for r in doc["roles"] if r["id"] != "marketing"]
    return doc


EXPECTED_EDIT_DIFF = [
    {
        "kind": "course",
        "id": "policy-101",
        "action": "changed",
        "name": "Social media policy (2027)",
        "changes": {
            "name": {"from": "Social media policy essentials", "to": "Social media policy (2027)"}
        },
    },
    {"kind": "course", "id": "ethics-101", "action": "created", "name": "Ethics online"},
    {
        "kind": "level",
        "id": "social-media/foundations",
        "action": "changed",
        "name": "Social Media Foundations",
        "changes": {"valid_for": {"from": "P1Y", "to": "P2Y"}},
        "version_bump": True,
    },
    {
        "kind": "level",
        "id": "social-media/black-belt",
        "action": "changed",
        "name": "Social Media Black Belt (Expert)",
        "changes": {
            "name": {"from": "Social Media Black Belt", "to": "Social Media Black Belt (Expert)"}
        },
        "version_bump": False,
    },
    {"kind": "role", "id": "marketing", "action": "archived"},
]


def test_an_edited_copy_produces_exactly_the_expected_diff(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    assert put_catalog(client, admin_headers, DEMO_YAML).status_code == 200
    edited = edited_demo()
    before = snapshot(client, admin_headers)

    dry = put_catalog(client, admin_headers, yaml.safe_dump(edited), dry_run=True)
    assert dry.status_code == 200, dry.text
    assert dry.json()["changes"] == EXPECTED_EDIT_DIFF
    assert dry.json()["summary"] == {"created": 1, "changed": 3, "archived": 1}
    assert snapshot(client, admin_headers) == before

    applied = put_catalog(client, admin_headers, edited)
    assert applied.json()["changes"] == EXPECTED_EDIT_DIFF
    after_events = audit_events(client, admin_headers)[before[2] :]
    assert [(e["action"], e["subject"]) for e in after_events] == [
        ("catalog.course.changed", "course:policy-101"),
        ("catalog.course.created", "course:ethics-101"),
        ("catalog.level.changed", "level:social-media/foundations"),
        ("catalog.level.changed", "level:social-media/black-belt"),
        ("catalog.role.archived", "role:marketing"),
    ]
    assert after_events[2]["data"]["changes"] == {"valid_for": {"from": "P1Y", "to": "P2Y"}}
    assert same_catalog(client.get("/v1/catalog", headers=admin_headers).json(), edited)

    versions = client.get(
        "/v1/tracks/social-media/levels/foundations/versions", headers=admin_headers
    ).json()
    assert [(v["version"], v["rules"]["valid_for"]) for v in versions] == [(1, "P1Y"), (2, "P2Y")]
    black_belt = client.get(
        "/v1/tracks/social-media/levels/black-belt/versions", headers=admin_headers
    ).json()
    assert [v["version"] for v in black_belt] == [1]

    role = client.get("/v1/roles/marketing", headers=admin_headers).json()
    assert role["archived_at"] is not None
    listed = client.get("/v1/roles", headers=admin_headers).json()["items"]
    assert [r["id"] for r in listed] == ["community-manager"]
    with_archived = client.get("/v1/roles?include_archived=true", headers=admin_headers).json()
    assert [r["id"] for r in with_archived["items"]] == ["community-manager", "marketing"]

    # putting the original back re-creates the archived role and reverses the rest
    back = put_catalog(client, admin_headers, DEMO_YAML)
    assert back.json()["summary"] == {"created": 1, "changed": 3, "archived": 1}
    assert client.get("/v1/roles/marketing", headers=admin_headers).json()["archived_at"] is None
    assert same_catalog(client.get("/v1/catalog", headers=admin_headers).json(), demo_mapping())


def test_export_round_trips_through_apply(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    put_catalog(client, admin_headers, DEMO_YAML)
    exported = client.get("/v1/catalog", headers=admin_headers).json()
    again = put_catalog(client, admin_headers, exported)
    assert again.json()["changes"] == []


def test_if_match_on_the_whole_catalog(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    put_catalog(client, admin_headers, DEMO_YAML)
    etag = client.get("/v1/catalog", headers=admin_headers).headers["etag"]
    edited = edited_demo()
    stale = put_catalog(client, admin_headers, edited, **{"If-Match": '"0"'})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_etag"] == etag
    ok = put_catalog(client, admin_headers, edited, **{"If-Match": etag})
    assert ok.status_code == 200 and ok.json()["applied"] is True


def with_cycle() -> dict[str, Any]:
    doc = demo_mapping()
    # foundations needs black-belt, which needs practitioner, which needs foundations
    doc["tracks"][0]["levels"][0]["requires"]["levels"] = ["social-media/black-belt"]
    return doc


def test_a_prerequisite_cycle_is_refused_naming_the_cycle(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    put_catalog(client, admin_headers, DEMO_YAML)
    before = snapshot(client, admin_headers)
    for dry_run in (True, False):
        response = put_catalog(client, admin_headers, with_cycle(), dry_run=dry_run)
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["type"].endswith("/catalog-prerequisite-cycle")
        cycle = body["cycle"]
        assert cycle[0] == cycle[-1]
        assert set(cycle) == {
            "social-media/foundations",
            "social-media/practitioner",
            "social-media/black-belt",
        }
        assert " → ".join(cycle) in body["detail"]
    assert snapshot(client, admin_headers) == before


def test_a_cycle_made_by_one_level_update_is_refused(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    put_catalog(client, admin_headers, DEMO_YAML)
    foundations = demo_mapping()["tracks"][0]["levels"][0]
    foundations["requires"]["levels"] = ["social-media/practitioner"]
    response = client.put(
        "/v1/tracks/social-media/levels/foundations", json=foundations, headers=admin_headers
    )
    assert response.status_code == 409
    assert response.json()["cycle"] in (
        ["social-media/foundations", "social-media/practitioner", "social-media/foundations"],
        ["social-media/practitioner", "social-media/foundations", "social-media/practitioner"],
    )
    level = client.get("/v1/tracks/social-media/levels/foundations", headers=admin_headers)
    assert level.json()["requires"]["levels"] == [] and level.json()["version"] == 1


@pytest.mark.parametrize(
    ("edit", "reference", "path"),
    [
        (
            lambda d: d["tracks"][0]["levels"][1]["requires"]["courses"].append(
                {"course": "no-such-course"}
            ),
            "no-such-course",
            "tracks[0].levels[1].requires.courses[1].course",
        ),
        (
            lambda d: d["programs"].append({"id": "x", "name": "X", "requires": "social-media/x"}),
            "social-media/x",
            "programs[4].requires",
        ),
        (
            lambda d: d["roles"][0]["mandatory"].append({"level": "other/y", "within": "P1D"}),
            "other/y",
            "roles[0].mandatory[1].level",
        ),
    ],
)
def test_unknown_references_are_422_naming_the_reference(  # type: ignore[no-untyped-def]
    client, admin_headers, edit, reference, path
) -> None:
    doc = demo_mapping()
    edit(doc)
    before = snapshot(client, admin_headers)
    response = put_catalog(client, admin_headers, doc)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/catalog-invalid")
    assert body["reference"] == reference
    assert body["path"] == path
    assert repr(reference) in body["detail"]
    assert snapshot(client, admin_headers) == before


def test_removing_a_level_still_named_by_a_program_is_refused(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    put_catalog(client, admin_headers, DEMO_YAML)
    doc = demo_mapping()
    doc["tracks"][0]["levels"].pop()  # black-belt, named by two programs
    response = put_catalog(client, admin_headers, doc)
    assert response.status_code == 422
    assert response.json()["reference"] == "social-media/black-belt"


def test_catalog_read_scope_cannot_write(client, make_key, admin_headers) -> None:  # type: ignore[no-untyped-def]
    reader = {"Authorization": f"Bearer {make_key('catalog:read', name='reader')}"}
    writer = {"Authorization": f"Bearer {make_key('catalog:write', name='writer')}"}
    other = {"Authorization": f"Bearer {make_key('learners:read', name='other')}"}
    denied = put_catalog(client, reader, DEMO_YAML)
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM
    assert denied.json()["required_scope"] == "catalog:write"
    assert (
        client.post("/v1/courses", json={"id": "c", "name": "C"}, headers=reader).status_code == 403
    )
    assert client.get("/v1/catalog", headers=other).status_code == 403
    assert client.get("/v1/catalog", headers={}).status_code == 401
    assert client.get("/v1/courses", headers=reader).json()["items"] == []

    applied = put_catalog(client, writer, DEMO_YAML)
    assert applied.status_code == 200
    assert client.get("/v1/catalog", headers=reader).status_code == 200
    actors = {e["actor"] for e in audit_events(client, admin_headers) if "catalog" in e["action"]}
    assert len(actors) == 1 and actors != {"test"}


def test_concurrent_first_applies_make_one_catalog(settings, database, admin_headers) -> None:  # type: ignore[no-untyped-def]
    """Four clients at once, each on an app of its own over the one database, as four server
    processes would be: one app's anyio limiters cannot be shared by four event loops."""
    results: list[Any] = []

    def apply(own_app: Any) -> None:
        with TestClient(own_app, raise_server_exceptions=False) as own:
            results.append(put_catalog(own, admin_headers, DEMO_YAML))

    apps = [create_app(settings, engine=database.engine) for _ in range(4)]  # built one by one
    threads = [threading.Thread(target=apply, args=(own_app,)) for own_app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    assert sorted(r.json()["applied"] for r in results) == [False, False, False, True]


def test_json_and_yaml_bodies_of_the_same_document_agree(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    as_yaml = put_catalog(client, admin_headers, DEMO_YAML, dry_run=True).json()
    as_json = put_catalog(
        client, admin_headers, json.loads(json.dumps(demo_mapping())), dry_run=True
    )
    assert as_json.json() == as_yaml
