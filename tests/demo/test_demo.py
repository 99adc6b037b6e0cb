"""``make demo`` on a fresh database: it seeds the demo organisation, a second run changes
nothing, and every command it prints works as written against the server ``make run`` starts
(each is run here, in a shell, against a real server on the port the demo was told)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from service.db import make_engine
from service.models import metadata
from tests.conftest import REPO
from tests.robustness import live

STAMP = ".venv/.installed-stamp"
pytestmark = pytest.mark.skipif(
    not (REPO / STAMP).exists(), reason=f"no {STAMP}: `make demo` would install first"
)


def make_demo(env: dict[str, str], port: int) -> str:
    # -o: never reinstall the virtualenv from inside a test (the stamp counts as up to date)
    done = subprocess.run(
        ["make", "-s", "-C", str(REPO), "-o", STAMP, "demo", f"PORT={port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def database_state(url: str) -> dict[str, Any]:
    """Row counts of every table, and the learners as stored."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            state: dict[str, Any] = {
                table.name: connection.execute(select(func.count()).select_from(table)).scalar()
                for table in metadata.sorted_tables
            }
            learner = metadata.tables["learner"]
            rows = connection.execute(select(learner).order_by(learner.c.id)).all()
            state["learner rows"] = [tuple(row) for row in rows]
    finally:
        engine.dispose()
    return state


def shell(command: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_make_demo_seeds_once_and_every_printed_command_works(live_db: str, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")},
        "CREDENCE_DATABASE_URL": live_db,
        "CREDENCE_DEV_KEY_FILE": str(tmp_path / ".credence-dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    port = live.free_port()
    api = f"http://127.0.0.1:{port}"

    first = make_demo(env, port)
    assert first.startswith("Demo organisation seeded (")
    assert "5 learners, 15 completions, 5 credentials." in first.splitlines()[0]
    assert f"in another terminal with `make run PORT={port}` (it serves {api})" in first
    seeded = database_state(live_db)
    assert seeded["learner"] == 5 and seeded["completion"] == 15 and seeded["credential"] == 5

    again = make_demo(env, port)
    assert again.splitlines()[0].endswith("nothing was written (no new audit event).")
    assert again.splitlines()[1:] == first.splitlines()[1:]  # same learners, ids, keys
    assert database_state(live_db) == seeded

    # What each learner holds: Foundations, Practitioner (electives) and one expired level.
    table = dict(re.findall(r"^  (\w+) +\S+ \S+ +\S+ +(.*)$", first, re.MULTILINE))
    assert table["ana"].startswith("Foundations (until ")
    assert re.fullmatch(r"Foundations \(until \S+\), Practitioner \(until \S+\)", table["bo"])
    assert table["cy"].startswith("Foundations (expired ")
    assert "policy-101 needs a score of at least 80 (best so far: 70)" in table["dee"]

    commands = [
        line.strip()
        for line in first.splitlines()
        if line.strip().startswith(("curl ", ".venv/bin/credence "))
    ]
    assert len(commands) == 6, commands
    # The commands are written for the checkout's root (`.venv/bin/credence`); run them in a
    # scratch folder that has the same .venv, so the files they save land there.
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    key = (tmp_path / ".credence-dev-key").read_text().strip()
    server = live.start(env, key, tmp_path, port=port)
    try:
        out = [shell(command, tmp_path, env) for command in commands]
        lines = first.splitlines()

        allowed, denied = json.loads(out[0]), json.loads(out[1])
        assert allowed["allowed"] is True and allowed["learner_id"] == "ana"
        assert f"Allowed: {allowed['reasons'][0]}" in next(ln for ln in lines if "1. " in ln)
        assert denied["allowed"] is False and denied["learner_id"] == "cy"
        denial = next(ln for ln in lines if ln.startswith("2. "))
        assert f"Denied: {'; '.join(denied['reasons'])}" in denial
        assert "expired on" in denial and "policy-101 (score 80+), brand-voice-101" in denial

        token = (tmp_path / "ana-foundations.jwt").read_text()
        assert token.count(".") == 2
        credential_id = re.search(r"Foundations credential, (urn:uuid:[0-9a-f-]+):", first)
        assert credential_id is not None and credential_id.group(1) in commands[2]
        verified = json.loads(out[3])
        assert verified["verified"] is True, verified
        assert verified["credential"]["id"] == credential_id.group(1)
        assert json.loads((tmp_path / "jwks.json").read_text())["keys"]
        assert "verified" in out[5].lower()  # `credence verify` exited 0 (checked by shell)

        page = re.search(r"verification page: (\S+)", first)
        assert page is not None and page.group(1) == f"{api}/verify"
        assert httpx.get(page.group(1), timeout=10).status_code == 200
        dashboard = re.search(r"The dashboard: (\S+)", first)
        assert dashboard is not None and dashboard.group(1) == f"{api}/dashboard"
        assert httpx.get(dashboard.group(1), timeout=10).status_code == 200
        read_only = re.search(r"read-only key \(scope reports:read\): (\S+)", first)
        assert read_only is not None
        bearer = {"Authorization": f"Bearer {read_only.group(1)}"}
        report = httpx.get(f"{api}/v1/reports/certification", headers=bearer, timeout=30)
        assert report.status_code == 200, report.text
        write = httpx.post(f"{api}/v1/completions", json={}, headers=bearer, timeout=10)
        assert write.status_code == 403, write.text  # read-only indeed
    finally:
        server.stop()


def test_demo_refuses_a_database_with_another_catalog_and_writes_nothing(
    live_db: str, tmp_path: Path
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")},
        "CREDENCE_DATABASE_URL": live_db,
        "CREDENCE_DEV_KEY_FILE": str(tmp_path / ".credence-dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    theirs = tmp_path / "catalog.yaml"
    theirs.write_text(live.DEMO.read_text().replace("valid_for: P1Y", "valid_for: P2Y"))
    live.cli(env, "db", "upgrade")
    live.cli(env, "catalog", "apply", str(theirs))
    before = database_state(live_db)
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "already holds a catalog other than the demo's" in done.stderr
    assert database_state(live_db) == before
