"""/docs in a real browser: headless Chromium (Debian's ``chromium``, driven by Playwright, as
in tests/reports/test_dashboard_browser.py) renders the vendored Swagger UI under the page's
Content-Security-Policy with no violation and no request leaving the origin, and "Try it out"
reaches the API. Skips with the reason when Playwright or Chromium is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import launch, require_browser
from tests.robustness.live import LiveServer, prepare, start

playwright_api = require_browser("docs browser test")

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    env, key = prepare(f"sqlite:///{tmp_path / 'credence.db'}", tmp_path)
    live = start(env, key, tmp_path)
    yield live
    live.stop()


def test_swagger_ui_renders_from_this_origin_and_tries_a_request(
    server: LiveServer, tmp_path: Path
) -> None:
    requests: list[str] = []
    errors: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on(
                "console",
                lambda message: (
                    errors.append(f"{message.text} ({message.location['url']})")
                    if message.type == "error"
                    else None
                ),
            )
            page.goto(f"{server.url}/redoc")  # redirected
            assert page.url == f"{server.url}/docs"
            page.wait_for_selector(".opblock", timeout=30_000)
            title = page.locator(".info .title").inner_text()
            operations = page.locator(".opblock").count()
            page.click("#operations-operations-healthz .opblock-summary")
            page.click("#operations-operations-healthz .try-out__btn")
            page.click("#operations-operations-healthz .execute")
            status = page.locator(
                "#operations-operations-healthz .live-responses-table tbody .response-col_status"
            )
            status.wait_for(timeout=15_000)
            answered = status.inner_text()
            page.screenshot(path=str(tmp_path / "docs.png"))
        finally:
            browser.close()
    print(f"docs screenshot: {tmp_path / 'docs.png'}")
    assert errors == []
    assert title.startswith("Credence")
    assert operations > 50
    assert answered.strip() == "200"
    assert f"{server.url}/healthz" in requests
    assert all(url.startswith(server.url + "/") for url in requests), requests
