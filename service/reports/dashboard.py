"""The dashboard page and its vendored chart library, served from the package (no build step,
nothing fetched from the internet). The page calls the reports API with the key the user types
in; the key stays in the browser's session storage."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.errors import NotFound

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = {"chart.umd.min.js": "text/javascript; charset=utf-8"}
# The page's own script is inline; everything else must come from this origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard() -> FileResponse:
    return FileResponse(
        STATIC / "dashboard.html",
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
    )


@router.get("/static/vendor/{name}")
def vendor(name: str) -> FileResponse:
    if name not in VENDOR:
        raise NotFound(f"No static file {name!r}.")
    return FileResponse(
        STATIC / "vendor" / name,
        media_type=VENDOR[name],
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
