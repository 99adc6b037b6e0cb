"""Pages and files served from the package's ``static`` folder: no build step, nothing fetched
from the internet, and no inline script anywhere.

Each page's Content-Security-Policy allows scripts from this origin only; its inline
``<style>`` blocks are allowed by hash, so neither scripts nor styles need ``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from service.errors import NotFound

STATIC = Path(__file__).resolve().parent / "static"
_JS = "text/javascript; charset=utf-8"
ASSETS = {
    "dashboard.js": _JS,
    "docs.js": _JS,
    "vendor/chart.umd.min.js": _JS,
    "vendor/swagger-ui-bundle.js": _JS,
    "vendor/swagger-ui.css": "text/css; charset=utf-8",
}
"""Every file under /static/, by its path there, with its media type (nothing else is served)."""

PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def content_security_policy(html: str, **extra: str) -> str:
    """The policy for a page: scripts from this origin only, its ``<style>`` blocks by hash,
    requests to this origin, images from here or ``data:``; ``extra`` adds or replaces
    directives (``worker_src="blob:"`` -> ``worker-src blob:``)."""
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        raise ValueError("inline <script> in a page: move it to a file under /static/")
    styles = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)
    directives = {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": " ".join(["'self'", *(_sha256(s) for s in styles)]),
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    directives.update({name.replace("_", "-"): value for name, value in extra.items()})
    return "; ".join(f"{name} {value}" for name, value in directives.items())


@functools.cache
def page(name: str, **extra: str) -> tuple[bytes, dict[str, str]]:
    """A page from the static folder and its headers (read and hashed once per process);
    ``extra`` directives as for `content_security_policy`."""
    html = (STATIC / name).read_text(encoding="utf-8")
    headers = {**PAGE_HEADERS, "Content-Security-Policy": content_security_policy(html, **extra)}
    return html.encode("utf-8"), headers


def page_response(name: str, **extra: str) -> Response:
    body, headers = page(name, **extra)
    return Response(body, media_type="text/html; charset=utf-8", headers=headers)


@router.get("/static/{name:path}")
def static_file(name: str) -> FileResponse:
    if name not in ASSETS:
        raise NotFound(f"No static file {name!r}.")
    # Vendored files change only with their version; our own scripts with any upgrade, so
    # browsers revalidate them (FileResponse answers a 304 with its ETag) and pages match them.
    cache = "public, max-age=86400" if name.startswith("vendor/") else "no-cache"
    return FileResponse(
        STATIC / name,
        media_type=ASSETS[name],
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"},
    )
