"""`credence catalog apply [--dry-run]` and `credence catalog export`, run as a user would."""

from __future__ import annotations

import copy
import getpass
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from service.catalog.document import DEMO_CATALOG_PATH, CatalogDocument, load_demo_catalog

CLI = [sys.executable, "-m", "service.cli"]


def run(database, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {"CREDENCE_DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def audit_count(client, headers) -> int:  # type: ignore[no-untyped-def]
    return len(client.get("/v1/audit/events?limit=500", headers=headers).json()["items"])


def test_apply_dry_run_then_apply_then_no_op(database, tmp_path, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    events = audit_count(client, admin_headers)
    dry = run(database, tmp_path, "catalog", "apply", "--dry-run", str(DEMO_CATALOG_PATH))
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert '+ level social-media/foundations "Social Media Foundations"' in lines
    assert "+ role marketing" in lines
    assert lines[-1] == "Dry run: 21 created, 0 changed, 0 archived; nothing was written."
    assert client.get("/v1/courses", headers=admin_headers).json()["items"] == []
    assert audit_count(client, admin_headers) == events

    applied = run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines()[:-1] == lines[:-1]  # the same diff
    assert "Applied: 21 created" in applied.stdout
    events_after_apply = audit_count(client, admin_headers)
    assert events_after_apply == events + 21
    catalog_events = client.get("/v1/audit/events?limit=500", headers=admin_headers).json()
    assert {e["actor"] for e in catalog_events["items"][-21:]} == {"cli:" + getpass.getuser()}

    again = run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH))
    assert again.returncode == 0
    assert again.stdout.splitlines()[0] == "no changes"
    assert "nothing was written" in again.stdout
    assert audit_count(client, admin_headers) == events_after_apply


def test_an_edited_file_prints_exactly_its_diff(database, tmp_path, client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    assert run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH)).returncode == 0
    doc = copy.deepcopy(load_demo_catalog().to_mapping())
    doc["tracks"][0]["levels"][0]["valid_for"] = "P2Y"
    doc["courses"].append({"id": "ethics-101", "name": "Ethics online"})
    doc["roles"] = doc["roles"][:1]
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(doc, sort_keys=False))

    dry = run(database, tmp_path, "catalog", "apply", "--dry-run", str(edited))
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        '+ course ethics-101 "Ethics online"',
        "~ level social-media/foundations: valid_for P1Y → P2Y (new version)",
        "- role marketing (archived)",
        "Dry run: 1 created, 1 changed, 1 archived; nothing was written.",
    ]
    assert run(database, tmp_path, "catalog", "apply", str(edited)).returncode == 0
    level = client.get("/v1/tracks/social-media/levels/foundations", headers=admin_headers)
    assert level.json()["version"] == 2 and level.json()["valid_for"] == "P2Y"


def test_export_round_trips_in_yaml_and_json(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    empty = run(database, tmp_path, "catalog", "export")
    assert empty.returncode == 0
    assert yaml.safe_load(empty.stdout) == {
        "courses": [],
        "tracks": [],
        "programs": [],
        "roles": [],
    }

    assert run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH)).returncode == 0
    as_yaml = run(database, tmp_path, "catalog", "export")
    as_json = run(database, tmp_path, "catalog", "export", "--format", "json")
    assert as_yaml.returncode == 0 and as_json.returncode == 0
    exported: dict[str, Any] = yaml.safe_load(as_yaml.stdout)
    assert json.loads(as_json.stdout) == exported
    assert CatalogDocument.from_mapping(exported).normalized() == load_demo_catalog().normalized()

    for name, text in (("export.yaml", as_yaml.stdout), ("export.json", as_json.stdout)):
        path = tmp_path / name
        path.write_text(text)
        again = run(database, tmp_path, "catalog", "apply", str(path))
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines()[0] == "no changes"


def test_invalid_catalogs_are_readable_errors_with_exit_2(  # type: ignore[no-untyped-def]
    database, tmp_path, client, admin_headers
) -> None:
    cycle = copy.deepcopy(load_demo_catalog().to_mapping())
    cycle["tracks"][0]["levels"][0]["requires"]["levels"] = ["social-media/black-belt"]
    unknown = copy.deepcopy(load_demo_catalog().to_mapping())
    unknown["programs"][0]["requires"] = "social-media/grandmaster"
    cases = {
        "cycle.yaml": (yaml.safe_dump(cycle), "prerequisite cycle: "),
        "unknown.yaml": (yaml.safe_dump(unknown), "unknown level 'social-media/grandmaster'"),
        "shape.yaml": ("courses: [{id: a}]\n", "courses[0].name: Field required"),
        "broken.yaml": ("courses: [\n", "not valid YAML"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = run(database, tmp_path, "catalog", "apply", str(path))
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    missing = run(database, tmp_path, "catalog", "apply", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert client.get("/v1/catalog", headers=admin_headers).headers["etag"] == '"0"'


def test_an_emptied_file_archives_everything_and_keeps_history(  # type: ignore[no-untyped-def]
    database, tmp_path, client, admin_headers
) -> None:
    assert run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH)).returncode == 0
    path = tmp_path / "empty.yaml"
    path.write_text("courses: []\n")
    result = run(database, tmp_path, "catalog", "apply", "--dry-run", str(path))
    assert result.returncode == 0
    assert "Dry run: 0 created, 0 changed, 21 archived" in result.stdout
    assert run(database, tmp_path, "catalog", "apply", str(path)).returncode == 0
    assert client.get("/v1/catalog", headers=admin_headers).json()["courses"] == []
    level = client.get("/v1/tracks/social-media/levels/foundations", headers=admin_headers)
    assert level.status_code == 200 and level.json()["archived_at"] is not None
    back = run(database, tmp_path, "catalog", "apply", str(DEMO_CATALOG_PATH))
    assert "21 created" in back.stdout
    assert client.get(level.url, headers=admin_headers).json()["version"] == 1
