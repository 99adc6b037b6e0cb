"""Every error leaves the service as RFC 9457 ``application/problem+json``, from one place.

Services raise :class:`ServiceError` subclasses (no HTTP objects inside services); this module
maps them, FastAPI's validation errors, Starlette's HTTP errors and anything unexpected to the
problem shape ``{type, title, status, detail, instance?, errors?}``.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match

PROBLEM_BASE = "https://credence.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger("credence.errors")


class ServiceError(Exception):
    """Base of the service's own errors: a status, a stable type slug and a title."""

    status: ClassVar[int] = 400
    type: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self, detail: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra
        self.headers: dict[str, str] = {}


class BadRequest(ServiceError):
    pass


class InvalidInput(ServiceError):
    status = 422
    type = "invalid-input"
    title = "The request is not valid"


class NotFound(ServiceError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    type = "conflict"
    title = "Conflict with the current state"


class PreconditionFailed(ServiceError):
    status = 412
    type = "precondition-failed"
    title = "The resource changed since you read it"


class Unauthorized(ServiceError):
    status = 401
    type = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="credence"'}


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"
    title = "Not allowed with this API key"


class PayloadTooLarge(ServiceError):
    status = 413
    type = "payload-too-large"
    title = "Request body too large"


class ServiceUnavailable(ServiceError):
    status = 503
    type = "unavailable"
    title = "Service not ready"


class OAuthError(ServiceError):
    """An OAuth 2.0 protocol error (the OID4VCI token, nonce and credential endpoints): answered
    as RFC 6749 §5.2 JSON, ``{"error", "error_description"}`` with ``application/json``, the
    shape wallets parse, rather than problem+json."""

    type = "oauth-error"
    title = "OAuth error"

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status  # type: ignore[misc]  # per instance: 400, or 401 for a token


class InvalidText(StarletteHTTPException):
    """Text no database here can store (a NUL character or an unpaired surrogate), found by
    ``service.core.text``. An HTTP exception so that it passes through FastAPI's body parsing
    when raised from ``receive``; rendered as the 400 ``invalid-text`` problem."""

    type = "invalid-text"
    title = "The request contains a NUL character or an unpaired surrogate"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(400, detail=_invalid_text_detail(errors))
        self.errors = errors


def _invalid_text_detail(errors: list[dict[str, Any]]) -> str:
    places = ", ".join(e["location"] for e in errors)
    return f"Text must not contain NUL characters or unpaired surrogates (found in {places})."


def invalid_text_response(errors: list[dict[str, Any]], path: str) -> JSONResponse:
    """The problem document for :class:`InvalidText` (also sent by the guard middleware)."""
    return problem_response(
        400,
        InvalidText.type,
        InvalidText.title,
        _invalid_text_detail(errors),
        instance=path.replace("\x00", ""),
        errors=errors,
    )


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type: str = Field(examples=[PROBLEM_BASE + "invalid-input"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


#: The methods a 405's ``Allow`` may name, in the order it names them.
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app fully answers at this request's path.

    Starlette's own 405 names only the methods of the first route whose path matched, and
    FastAPI makes one route per method, so ``PATCH /v1/courses/x`` said ``Allow: GET`` although
    PUT and DELETE are there too.
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        errors.append(
            {"location": ".".join(loc), "message": str(err.get("msg", "")), "type": err["type"]}
        )
    return errors


def install_error_handlers(app: FastAPI) -> None:
    """Register the one problem+json handler family on ``app``."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        if isinstance(exc, OAuthError):
            body = {"error": exc.error, "error_description": exc.detail}
            headers = {"Cache-Control": "no-store"} | exc.headers
            return JSONResponse(body, status_code=exc.status, headers=headers)
        return problem_response(
            exc.status,
            exc.type,
            exc.title,
            exc.detail,
            instance=request.url.path,
            errors=exc.errors,
            headers=exc.headers or None,
            extra=exc.extra or None,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                400,
                "malformed-body",
                "The request body is not valid JSON",
                "; ".join(e["message"] for e in errors if e["type"] == "json_invalid"),
                instance=request.url.path,
            )
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "invalid-input",
            "The request is not valid",
            detail,
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(InvalidText)
    async def _invalid_text(request: Request, exc: InvalidText) -> JSONResponse:
        return invalid_text_response(exc.errors, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}"
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            detail = f"{request.method} is not allowed on {request.url.path}"
            if allowed:
                detail += f" (allowed: {', '.join(allowed)})"
                headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return problem_response(
            exc.status_code,
            slug,
            title,
            detail,
            instance=request.url.path,
            headers=headers,
        )

    @app.exception_handler(IntegrityError)
    async def _constraint(request: Request, exc: IntegrityError) -> JSONResponse:
        # A database invariant (e.g. one live credential per learner and level) refused a write
        # that a concurrent request made moot; every check-then-act runs under a lock, so this
        # is the backstop, and nothing of the request was written.
        log.warning(
            "constraint refused a write on %s %s: %s", request.method, request.url.path, exc.orig
        )
        return problem_response(
            409,
            "conflict",
            "Conflict",
            "A concurrent change conflicts with this request; nothing was written. Read the "
            "current state and retry if it still applies.",
            instance=request.url.path,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The database refused or dropped the connection, the pool was exhausted, or a lock
        # wait ended (deadlock, timeout): the request may well succeed in a moment.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return problem_response(
            503,
            "database-unavailable",
            "The database is unavailable",
            "The database did not answer or is overloaded; nothing was written. Retry shortly.",
            instance=request.url.path,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500,
            "internal-error",
            "Internal server error",
            "The error was logged; nothing was written.",
            instance=request.url.path,
        )


def problem_responses(
    *statuses: int, extra: dict[int | str, dict[str, Any]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json bodies for these statuses
    (plus ``extra`` entries, e.g. another media type for the 200)."""
    described = {
        400: "Malformed request",
        401: "Missing or invalid API key",
        403: "API key lacks the scope",
        404: "Not found",
        409: "Conflict",
        412: "Stale If-Match",
        413: "Body too large",
        422: "Invalid input",
        503: "Not ready",
    }
    return dict(extra or {}) | {
        status: {
            "model": Problem,
            "description": described.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
