"""Headless Chromium for the browser tests: Debian's ``chromium`` (installed by .ci/run, never
``playwright install``) driven by Playwright. Call :func:`require_browser` at module level: it
skips the module, saying why, when either is missing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("CREDENCE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser(what: str) -> Any:
    """``playwright.sync_api``, or skip the calling module (``what`` names its test)."""
    api = pytest.importorskip(
        "playwright.sync_api", reason=f"Playwright is not installed: {what} skipped"
    )
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} not found (apt-get install chromium): {what} skipped",
            allow_module_level=True,
        )
    return api


def launch(playwright: Any) -> Any:
    """The system Chromium, headless, from a ``sync_playwright()`` context."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
