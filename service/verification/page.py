"""The ``/verify`` page: one static HTML file with its script and style inline, no build step.

The Content-Security-Policy allows exactly that inline script and style (by hash), requests to
this origin, and nothing else, so the page can render whatever a pasted credential contains
without letting it run code or load anything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

PAGE = Path(__file__).with_name("static") / "verify.html"


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@functools.cache
def verify_page() -> tuple[bytes, dict[str, str]]:
    """The page and its response headers (read and hashed once per process)."""
    html = PAGE.read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    policy = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(_sha256(s) for s in scripts),
            "style-src " + " ".join(_sha256(s) for s in styles),
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    headers = {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "public, max-age=300",
    }
    return html.encode("utf-8"), headers
