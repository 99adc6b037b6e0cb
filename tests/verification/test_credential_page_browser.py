"""The public credential page in a real browser: headless Chromium (Debian's ``chromium``,
driven by Playwright) opens a live server's page with no key and finds it whole: the badge image
loaded, the status and the checks in words, and no request the page's CSP refused. A
screenshot is kept in the test's tmp folder.

Skips with the reason when Playwright or /usr/bin/chromium is missing (.ci/run installs the
``chromium`` package; the system browser is used, ``playwright install`` never runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import launch, require_browser
from tests.interop.test_jose_npm import _earn
from tests.robustness.live import LiveServer, prepare, start

playwright_api = require_browser("page browser test")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("page")
    env, key = prepare(f"sqlite:///{tmp / 'credence.db'}", tmp)
    live = start(env, key, tmp)
    try:
        yield live
    finally:
        live.stop()


def test_a_browser_renders_the_page_whole(server: LiveServer, tmp_path: Path) -> None:
    credential_id, _ = _earn(server, "page-1")
    detail = httpx.get(
        f"{server.url}/v1/credentials/{credential_id}",
        headers={"Authorization": f"Bearer {server.key}"},
    ).json()
    refused: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 1100})
            page.on(
                "console",
                lambda m: refused.append(m.text) if "Content Security" in m.text else None,
            )
            response = page.goto(detail["page_url"])
            assert response is not None and response.status == 200
            heading = page.locator("h1").inner_text()
            assert heading == "Social Media Foundations"
            assert "Active: genuine and in force." in page.locator(".status").inner_text()
            checks = page.locator("ul.checks li").all_inner_texts()
            assert "It has not been revoked" in checks and len(checks) == 8
            width = page.evaluate("document.querySelector('header img').naturalWidth")
            assert width == 256  # the badge SVG loaded (same origin, allowed by the CSP)
            page.screenshot(path=str(tmp_path / "credential-page.png"), full_page=True)
        finally:
            browser.close()
    assert refused == []
    assert (tmp_path / "credential-page.png").stat().st_size > 5_000
    print(f"credential page screenshot: {tmp_path / 'credential-page.png'}")
