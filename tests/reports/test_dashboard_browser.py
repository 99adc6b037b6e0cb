"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright opens /dashboard on a live uvicorn server with seeded data, enters a key, and checks
what the charts drew and the overdue list. A screenshot is saved in the test's tmp folder.

Skips with the reason when Playwright or /usr/bin/chromium is missing (.ci/run installs the
``chromium`` package; ``playwright install`` is never run: the system browser is used).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from service.api_clients.service import create_client
from service.db import make_engine
from service.migrations import upgrade
from tests.browser import launch, require_browser
from tests.conftest import REPO
from tests.reports.seed import seed

playwright_api = require_browser("dashboard browser test")

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A migrated SQLite database with an admin key, and uvicorn serving it: (base URL, key)."""
    url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        _, key = create_client(session, name="browser-test", scopes=["admin"], actor="test")
        session.commit()
    engine.dispose()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": url,
        "CREDENCE_BASE_URL": base,
        "CREDENCE_DEV_KEY_FILE": str(tmp_path / "dev-key"),
        "CREDENCE_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"server did not start:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.2)
        yield base, key
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _chart_counts(page: Any) -> dict[str, Any]:
    """What Chart.js drew, read from its own element lists (one element per bar or point)."""
    return page.evaluate(
        """() => {
          const meta = (canvas) => {
            const chart = Chart.getChart(canvas);
            return chart.data.datasets.map((_, i) => chart.getDatasetMeta(i).data.length);
          };
          const certified = [...document.querySelectorAll('#certified canvas')];
          return {
            certified: certified.map((c) => [c.dataset.level, meta(c)]),
            completionRate: meta(document.getElementById('completion-rate')),
            compliance: meta(document.getElementById('compliance')),
            funnel: meta(document.getElementById('funnel')),
            funnelData: Chart.getChart(document.getElementById('funnel')).data.datasets[0].data,
          };
        }"""
    )


def _painted(page: Any, canvas_id: str) -> bool:
    """The pixel at the centre of the first bar of a chart is not blank: it was really drawn."""
    return bool(
        page.evaluate(
            """(id) => {
              const canvas = document.getElementById(id);
              const chart = Chart.getChart(canvas);
              const bar = chart.getDatasetMeta(0).data[0];
              const ratio = chart.currentDevicePixelRatio;
              const x = Math.round(((bar.x + bar.base) / 2) * ratio);
              const y = Math.round(bar.y * ratio);
              const pixel = canvas.getContext('2d').getImageData(x, y, 1, 1).data;
              return pixel[3] > 0;
            }""",
            canvas_id,
        )
    )


def test_dashboard_draws_the_seeded_reports(live_server: tuple[str, str], tmp_path: Path) -> None:
    base, key = live_server
    with httpx.Client(base_url=base, timeout=30) as api:
        seed(api, {"Authorization": f"Bearer {key}"})
        reader = api.post(
            "/v1/api-clients",
            json={"name": "program-manager", "scopes": ["reports:read"]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert reader.status_code == 201, reader.text
        reader_key = reader.json()["key"]

    requests: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.on("request", lambda request: requests.append(request.url))
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            # a script or style the Content-Security-Policy blocks is reported on the console
            page.on(
                "console",
                lambda message: (
                    errors.append(f"{message.text} ({message.location['url']})")
                    if message.type == "error"
                    else None
                ),
            )
            response = page.goto(f"{base}/dashboard")
            assert response is not None
            policy = response.headers["content-security-policy"]
            assert page.title().startswith("Credence")
            page.fill("#api-key", reader_key)
            page.fill("#group-by", "department")
            page.click("#connect")
            page.wait_for_selector("body[data-state=ready]", timeout=20_000)
            counts = _chart_counts(page)
            overdue = page.locator("#overdue-list tbody tr").all_inner_texts()
            stored = page.evaluate(
                "() => [sessionStorage.getItem('credence.apiKey'), localStorage.length]"
            )
            painted = _painted(page, "funnel")
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        finally:
            browser.close()

    print(f"dashboard screenshot: {tmp_path / 'dashboard.png'}")
    assert errors == []
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    # one chart per level; one bar per department (ops, sales, support) and (none)
    assert counts["certified"] == [
        ["social-media/foundations", [4]],
        ["social-media/practitioner", [4]],
        ["social-media/black-belt", [4]],
    ]
    assert counts["completionRate"] == [12]  # twelve monthly points
    assert counts["compliance"] == [2, 2, 2]  # compliant/due/overdue for the two mandates
    assert counts["funnel"] == [3] and counts["funnelData"] == [5, 0, 0]
    assert painted
    assert len(overdue) == 1 and overdue[0].startswith("Bob (bob)\tsales\tmarketing")
    assert stored == [reader_key, 0]  # the key lives in session storage only
    assert requests and all(url.startswith(base + "/") for url in requests), requests
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
