"""Interactive API documentation served entirely from this origin.

FastAPI's default ``/docs`` (Swagger UI) and ``/redoc`` pages load their code from a CDN and
carry no Content-Security-Policy. Here ``/docs`` is Swagger UI from a copy vendored under
``static/vendor`` (version and licence in ``static/vendor/README.md``), started by
``static/docs.js``: no inline script, and the page may reach nothing but this origin. ReDoc is
not served: its bundle always loads a logo from its CDN and styles itself with inline
``<style>`` elements, so ``/redoc`` redirects to ``/docs``.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from service.static_assets import page_response

router = APIRouter(include_in_schema=False)


@router.api_route("/docs", methods=["GET", "HEAD"])  # as the page FastAPI served did
def swagger_ui() -> Response:
    return page_response("docs.html")


@router.get("/redoc")
def redoc() -> RedirectResponse:
    return RedirectResponse("/docs", status_code=308)
