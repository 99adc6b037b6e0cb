"""The dashboard page, served from the package (no build step, nothing fetched from the
internet). Its script (``static/dashboard.js``) and the vendored chart library are files from
this origin, so its Content-Security-Policy needs no ``'unsafe-inline'``. The page calls the
reports API with the key the user types in; the key stays in the browser's session storage."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.static_assets import page_response

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard() -> Response:
    return page_response("dashboard.html")
