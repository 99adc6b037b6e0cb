"""``credence import completions FILE.csv`` as a user runs it (subprocess), on both databases:
stored / duplicates / rejected with line numbers, chunked commits, idempotent re-runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
HEADER = "learner_id,course_id,completed_at,score,passed,external_id,email,name\n"


def ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def catalog(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200


def run_import(database, path: Path, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": database.url,
        "CREDENCE_BASE_URL": "https://credence.test",
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "import", "completions", str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def scalar(database, sql: str) -> int:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_import_reports_each_row_and_re_running_changes_nothing(  # type: ignore[no-untyped-def]
    catalog, database, tmp_path, client, admin_headers
) -> None:
    path = tmp_path / "lms-export.csv"
    path.write_text(
        HEADER
        + f"ada,policy-101,{ago(9)},90,true,,ada@example.com,Ada Lovelace\n"  # line 2
        + f"ada,brand-voice-101,{ago(8)},,,,,\n"  # line 3: earns Foundations
        + f"bob,nope-101,{ago(8)},,,,,\n"  # line 4: unknown course
        + f"bob,policy-101,{ago(8)},abc,,,,\n"  # line 5: bad score
        + f"bob,policy-101,{ago(8)},70,no,hr-7,,\n"  # line 6
        + f"bob,policy-101,{ago(8)},70,no,hr-7,,\n"  # line 7: same row again: a duplicate
        + 'bob,policy-101,2099-01-01T00:00:00Z,,,,,"Bob\nBuilder"\n'  # lines 8-9: future
        + f"cy,policy-101,{ago(7)},85,maybe,,,\n"  # line 10: bad passed
        + f"cy,policy-101,{ago(7)}\n"  # line 11: too few fields
        + f"cy,policy-101,{ago(6)},85,,,,\n"  # line 12
    )
    first = run_import(database, path)
    assert first.returncode == 1, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "stored 4, duplicates 1, rejected 5, credentials issued 1"
    rejected = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert list(rejected) == ["line 4", "line 5", "line 8", "line 10", "line 11"]
    assert "nope-101" in rejected["line 4"]
    assert "abc" in rejected["line 5"]
    assert "future" in rejected["line 8"]
    assert "importing" in first.stderr  # the progress bar goes to stderr

    assert scalar(database, "SELECT count(*) FROM completion") == 4
    assert scalar(database, "SELECT count(*) FROM completion WHERE source = 'import'") == 4
    assert scalar(database, "SELECT count(*) FROM credential") == 1
    ada = client.get("/v1/learners/ada", headers=admin_headers).json()
    assert ada["name"] == "Ada Lovelace" and ada["email"] == "ada@example.com"
    audit_before = scalar(database, "SELECT count(*) FROM audit_event")

    again = run_import(database, path, "--quiet")
    assert again.returncode == 1
    assert again.stdout.splitlines()[0] == (
        "stored 0, duplicates 5, rejected 5, credentials issued 0"
    )
    assert scalar(database, "SELECT count(*) FROM completion") == 4
    assert scalar(database, "SELECT count(*) FROM audit_event") == audit_before


def test_a_nul_in_a_field_rejects_that_row_on_both_databases(catalog, database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nul.csv"
    path.write_text(
        HEADER
        + f"ada,policy-101,{ago(9)},90,,,,Ada\x00Lovelace\n"  # line 2: NUL in the name
        + f"bob,policy-101,{ago(9)},90,,hr\x00-1,,\n"  # line 3: NUL in the external id
        + f"cy,policy-101,{ago(9)},90,,,,\n"  # line 4
    )
    result = run_import(database, path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "stored 1, duplicates 0, rejected 2, credentials issued 0"
    assert lines[1] == "  line 2: name contains a NUL character"
    assert lines[2] == "  line 3: external_id contains a NUL character"
    assert scalar(database, "SELECT count(*) FROM completion") == 1


def test_large_file_in_chunks_then_fixed_rows_are_added(catalog, database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "big.csv"
    rows = [f"l{n},policy-101,{ago(5)},{60 + n % 40},,,," for n in range(120)]
    rows += [f"l{n},brand-voice-101,{ago(4)},,,,," for n in range(120)]
    path.write_text(HEADER + "\n".join(rows) + "\n")
    result = run_import(database, path, "--chunk", "50")
    assert result.returncode == 0, result.stdout + result.stderr
    # scores 80..99 reach Foundations' min_score 80: n % 40 >= 20, half of the learners
    assert result.stdout.strip() == "stored 240, duplicates 0, rejected 0, credentials issued 60"
    assert scalar(database, "SELECT count(*) FROM credential") == 60

    # The export grows; re-importing it stores only the new rows.
    with path.open("a") as handle:
        handle.write(f"l0,policy-101,{ago(1)},95,,,,\n")
    grown = run_import(database, path)
    assert grown.stdout.strip() == "stored 1, duplicates 240, rejected 0, credentials issued 1"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("learner_id,course_id,score\n", "missing column(s) completed_at"),
        ("learner_id,course_id,completed_at,grade\n", "unknown column(s) grade"),
    ],
)
def test_a_bad_header_imports_nothing(catalog, database, tmp_path, header, message) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text(header + f"ada,policy-101,{ago(1)},1\n")
    result = run_import(database, path)
    assert result.returncode == 2
    assert message in result.stderr
    assert scalar(database, "SELECT count(*) FROM completion") == 0
