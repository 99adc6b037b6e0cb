"""The request dependencies every router takes: the session (the request's transaction), the
settings, the caller (``Authorization: Bearer <key>``) and the scope it must carry.

The caller is decided by the one API-key rule, :func:`service.auth.service.admit`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

import anyio.to_thread
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlmodel import Session

from service.auth.service import MissingKey, PresentedKey, Principal, admit_key, well_formed
from service.db import EngineDep, get_session
from service.settings import Settings

#: The request's session; its transaction commits when the endpoint returns (``get_session``).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def get_settings(request: Request) -> Settings:
    """The settings the app was built with (``async``: no thread-pool hop to hand them out)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cred_...`")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that passes only callers whose key carries ``scope`` (or ``admin``): 401
    (with ``WWW-Authenticate``) for a missing or bad key, 403 for a key without the scope."""

    def check(request: Request, engine: EngineDep, credentials: BearerDep) -> Principal:
        if credentials is None:
            raise MissingKey()
        principal = admit_key(engine, credentials.credentials, scope)
        request.state.principal = principal
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    check.required_scope = scope  # type: ignore[attr-defined]  # documented in the OpenAPI
    return check


AdminDep = Annotated[Principal, Depends(require("admin"))]
AuditReadDep = Annotated[Principal, Depends(require("audit:read"))]


# Doors that admit their caller themselves, in a read they make anyway (the permission check's
# snapshot statement, the single completion's group): they take the presented key from
# :func:`presented` and apply :func:`service.auth.service.admit` to the client row they read.


def presented(scope: str) -> Callable[..., Coroutine[Any, Any, PresentedKey]]:
    """A dependency giving the well-formed bearer key (401 when missing or malformed, with no
    read), for a door that admits it later by the one rule; ``scope`` is documented in the
    OpenAPI document as :func:`require`'s is."""

    async def presented_key(credentials: BearerDep) -> PresentedKey:
        if credentials is None:
            raise MissingKey()
        return well_formed(credentials.credentials)

    presented_key.required_scope = scope  # type: ignore[attr-defined]  # OpenAPI docs
    return presented_key


def bearer_key(request: Request) -> PresentedKey:
    """The bearer key, read as :data:`bearer` reads it, outside dependency injection."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if not token or scheme.lower() != "bearer":
        raise MissingKey()
    return well_formed(token)


async def refuse_unless_allowed(
    request: Request, scope: str, key: PresentedKey | None = None
) -> None:
    """Before reporting a malformed request, make sure the caller may ask at all (401/403
    first), by the one API-key rule. Only invalid requests pay this extra read; valid ones are
    admitted in the door's own read. The read runs in a worker thread: on the event loop it
    held up every other request for its round trip, and for as long as it waited for a pooled
    connection. (Called from a route class, outside dependency injection: hence the engine
    straight from the app.)"""
    key = key or bearer_key(request)
    await anyio.to_thread.run_sync(admit_key, request.app.state.engine, key.key, scope)


class AuthFirstRoute(APIRoute):
    """Validation errors are reported only to callers whose key may use the endpoint: for the
    doors that admit their caller after FastAPI has validated the request (subclasses name the
    ``scope``)."""

    scope: ClassVar[str]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError:
                await refuse_unless_allowed(request, self.scope)
                raise

        return route
