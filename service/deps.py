"""The request dependencies every router takes: the session (the request's transaction), the
caller (``Authorization: Bearer <key>``) and the scope it must carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from service.auth.keys import grants
from service.auth.service import Principal, authenticate
from service.db import get_session
from service.errors import Forbidden, Unauthorized
from service.settings import Settings

#: The request's session; its transaction commits when the endpoint returns (``get_session``).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer cred_...`")


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller, or a 401 problem (with ``WWW-Authenticate``) when the key is missing/bad."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("Send an API key as 'Authorization: Bearer <key>'.")
    principal = authenticate(request.app.state.engine, credentials.credentials)
    if principal is None:
        raise Unauthorized("The API key is not valid (unknown, malformed or revoked).")
    request.state.principal = principal
    return principal


def require(scope: str) -> Callable[[Principal], Principal]:
    """A dependency that passes only callers whose key carries ``scope`` (or ``admin``)."""

    def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not grants(principal.scopes, scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope.", required_scope=scope)
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    check.required_scope = scope  # type: ignore[attr-defined]  # documented in the OpenAPI
    return check


AdminDep = Annotated[Principal, Depends(require("admin"))]
AuditReadDep = Annotated[Principal, Depends(require("audit:read"))]
