"""The base URL follows where the server runs: ``make run PORT=…`` (and ``credence serve --host
--port``) names credentials, keys and status lists under that address unless
``CREDENCE_BASE_URL`` is set, and every URL in an issued credential answers there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from service.cli.context import local_base_url
from tests.conftest import REPO, status_entries
from tests.robustness.live import DEMO, free_port, wait_ready

STAMP = ".venv/.installed-stamp"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("0.0.0.0", 8000, "http://127.0.0.1:8000"),  # the wildcard is reached on loopback
        ("::", 9000, "http://127.0.0.1:9000"),
        ("::1", 8001, "http://[::1]:8001"),
        ("certs.local", 80, "http://certs.local:80"),
    ],
)
def test_local_base_url(host: str, port: int, expected: str) -> None:
    assert local_base_url(host, port) == expected


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CREDENCE_")},
        "CREDENCE_DATABASE_URL": f"sqlite:///{tmp_path / 'credence.db'}",
        "CREDENCE_DEV_KEY_FILE": str(tmp_path / "dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Any]:
    """Start a server command in its own process group; stopped (the group) afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def run(command: list[str], env: dict[str, str], url: str) -> Path:
        log = tmp_path / f"server-{len(started)}.log"
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        wait_ready(url, process, log)
        return log

    yield run
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)


def _earn_foundations(url: str, key: str) -> dict[str, Any]:
    """Apply the demo catalog and earn Foundations over HTTP; the credential's detail."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        applied = client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={"Content-Type": "application/yaml"},
        )
        assert applied.status_code == 200, applied.text
        at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        issued: list[dict[str, Any]] = []
        for course, score in (("policy-101", 90), ("brand-voice-101", None)):
            body = {"learner_id": "ana", "course_id": course, "completed_at": at, "score": score}
            posted = client.post("/v1/completions", json=body)
            assert posted.status_code == 201, posted.text
            issued += posted.json()["issued"]
        assert [c["level"] for c in issued] == ["social-media/foundations"]
        detail = client.get(f"/v1/credentials/{issued[0]['id']}")
        assert detail.status_code == 200, detail.text
        result: dict[str, Any] = detail.json()
        return result


def _urls(detail: dict[str, Any]) -> list[str]:
    """The kid, status-list and achievement URLs of an issued credential."""
    credential = detail["credential"]
    kid = jwt.get_unverified_header(detail["jwt"])["kid"]
    status = [entry["statusListCredential"] for entry in status_entries(credential)]
    return [kid, *status, credential["credentialSubject"]["achievement"]["id"]]


@pytest.mark.skipif(
    not (REPO / STAMP).exists(), reason=f"no {STAMP}: `make run` would install first"
)
def test_make_run_on_another_port_names_everything_under_it(tmp_path: Path, launch: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(tmp_path)
    # -o: never reinstall the virtualenv from inside a test (the stamp counts as up to date)
    log = launch(["make", "-s", "-o", STAMP, "run", "HOST=127.0.0.1", f"PORT={port}"], env, url)
    printed = log.read_text()
    assert f"Credence is starting on {url}" in printed
    assert f"Base URL (credential, key and status-list URLs): {url}" in printed
    key = (tmp_path / "dev-key").read_text().strip()

    detail = _earn_foundations(url, key)
    urls = _urls(detail)
    assert all(u.startswith(f"{url}/") for u in urls), urls
    kid = urls[0]
    assert kid.startswith(f"{url}/keys/")
    # and each of them answers on this server: the JWKS has the key, the lists are there
    assert httpx.get(kid, timeout=10).json()["kid"] == kid  # the kid serves its key
    jwks = httpx.get(f"{url}/.well-known/jwks.json", timeout=10).json()
    assert kid in {k["kid"] for k in jwks["keys"]}
    for status_list in urls[1:-1]:
        assert httpx.get(status_list, timeout=10).status_code == 200
    verified = httpx.post(f"{url}/v1/verify", json={"credential": detail["jwt"]}, timeout=10)
    assert verified.json()["verified"] is True, verified.text


def test_base_url_setting_wins_over_host_and_port(tmp_path: Path, launch: Any) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _env(tmp_path, CREDENCE_BASE_URL="https://certs.example.com")
    subprocess.run(
        [sys.executable, "-m", "service.cli", "db", "upgrade"], env=env, check=True, timeout=120
    )
    key = subprocess.run(
        [sys.executable, "-m", "service.cli", "api-keys", "ensure-dev"],
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    log = launch(command, env, url)
    assert "Base URL (credential, key and status-list URLs): https://certs.example.com" in (
        log.read_text()
    )
    urls = _urls(_earn_foundations(url, key))
    assert all(u.startswith("https://certs.example.com/") for u in urls), json.dumps(urls)
