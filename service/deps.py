"""The request dependencies every router takes: the session (the request's transaction), the
settings, the caller (``Authorization: Bearer <key>``) and the scope it must carry.

The caller is decided by the one API-key rule, :func:`service.auth.service.admit`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.auth.service import MissingKey, Principal, admit_key
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
