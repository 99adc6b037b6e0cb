"""Who may call ``/xapi``, and in which xAPI version.

Authentication as an LRS client sends it: ``Authorization: Basic`` with the API key's prefix as
username and the secret (or the whole key) as password, or ``Authorization: Bearer <key>``.
Writing statements needs ``completions:write``; reading them ``xapi:read``. The key is checked
before the version header (401, 403, then 400), as on every other protected route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.security.http import HTTPAuthorizationCredentials

from service.auth.keys import parse_prefix
from service.auth.service import MissingKey, Principal, admit_key
from service.db import EngineDep
from service.deps import BearerDep
from service.errors import ServiceError, Unauthorized
from service.xapi.middleware import SUPPORTED_VERSIONS

WRITE_SCOPE = "completions:write"
READ_SCOPE = "xapi:read"

basic = HTTPBasic(
    auto_error=False,
    description="LRS-style: username = the API key's prefix, password = the key's secret "
    "(the part after `cred_<prefix>_`) or the whole key.",
)


class UnsupportedVersion(ServiceError):
    status = 400
    type = "xapi-version"
    title = "Missing or unsupported X-Experience-API-Version"


#: An LRS client answers a Basic challenge; the Bearer one is there for the other clients.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="credence-xapi", Bearer realm="credence"'}
NO_KEY = (
    "Send the API key as HTTP Basic (username: key prefix, password: key secret or "
    "the whole key) or as 'Authorization: Bearer <key>'."
)


VersionHeader = Annotated[
    str | None,
    Header(
        alias="X-Experience-API-Version",
        description=f"Required: one of {', '.join(SUPPORTED_VERSIONS)}",
    ),
]


def xapi_version(version: VersionHeader = None) -> str:
    """The request's xAPI version, or a 400."""
    if version is None:
        raise UnsupportedVersion("Send X-Experience-API-Version (e.g. 1.0.3).")
    if version.strip() not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(
            f"X-Experience-API-Version {version!r} is not supported; use one of "
            f"{', '.join(SUPPORTED_VERSIONS)}.",
            supported=list(SUPPORTED_VERSIONS),
        )
    return version.strip()


def presented_key(
    basic_credentials: HTTPBasicCredentials | None,
    bearer_credentials: HTTPAuthorizationCredentials | None,
) -> str | None:
    """The API key in a Basic (prefix + secret, or anything + whole key) or Bearer header."""
    if bearer_credentials is not None:
        return bearer_credentials.credentials
    if basic_credentials is None:
        return None
    password = basic_credentials.password
    if parse_prefix(password) is not None:
        return password
    candidate = f"cred_{basic_credentials.username}_{password}"
    return candidate if parse_prefix(candidate) == basic_credentials.username else None


def xapi_client(scope: str) -> Callable[..., Principal]:
    """A dependency passing callers whose key (Basic or Bearer) carries ``scope``: the one
    API-key rule (:func:`~service.auth.service.admit`), its 401s challenging for Basic too."""

    def check(
        request: Request,
        engine: EngineDep,
        basic_credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
        bearer_credentials: BearerDep,
    ) -> Principal:
        try:
            key = presented_key(basic_credentials, bearer_credentials)
            if key is None:
                raise MissingKey(NO_KEY)
            principal = admit_key(engine, key, scope)
        except Unauthorized as exc:
            exc.headers = dict(CHALLENGE)
            raise
        request.state.principal = principal
        return principal

    check.__name__ = f"xapi_{scope.replace(':', '_')}"
    check.required_scope = scope  # type: ignore[attr-defined]  # documented in the OpenAPI
    return check


WriterDep = Annotated[Principal, Depends(xapi_client(WRITE_SCOPE))]
ReaderDep = Annotated[Principal, Depends(xapi_client(READ_SCOPE))]
VersionDep = Annotated[str, Depends(xapi_version)]
