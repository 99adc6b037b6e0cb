"""xAPI statements resource, LRS-shaped (scope ``completions:write``).

Authentication as an LRS client sends it: ``Authorization: Basic`` with the API key's prefix as
username and the secret (or the whole key) as password, or ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.security.http import HTTPAuthorizationCredentials

from service.auth.dependencies import bearer
from service.auth.keys import grants, parse_prefix
from service.auth.service import Principal, authenticate
from service.db import SessionDep
from service.errors import Forbidden, ServiceError, Unauthorized, problem_responses
from service.issuance.context import IssuerDep
from service.observability import Metrics
from service.xapi import service
from service.xapi.middleware import SUPPORTED_VERSIONS
from service.xapi.schemas import About
from service.xapi.settings import XapiSettings, get_xapi_settings
from service.xapi.validation import UUID_PATTERN, InvalidStatement

SCOPE = "completions:write"
basic = HTTPBasic(
    auto_error=False,
    description="LRS-style: username = the API key's prefix, password = the key's secret "
    "(the part after `cred_<prefix>_`) or the whole key.",
)

STATEMENT_EXAMPLE = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {
        "objectType": "Agent",
        "name": "Ana Lima",
        "account": {"homePage": "https://lms.example.com", "name": "ana"},
    },
    "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"en-US": "passed"}},
    "object": {"id": "https://lms.example.com/xapi/activities/policy-101"},
    "result": {"success": True, "completion": True, "score": {"scaled": 0.92}},
    "timestamp": "2026-11-20T10:00:00Z",
}


class UnsupportedVersion(ServiceError):
    status = 400
    type = "xapi-version"
    title = "Missing or unsupported X-Experience-API-Version"


class XapiUnauthorized(Unauthorized):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Basic realm="credence-xapi", Bearer realm="credence"'}


def xapi_version(
    version: Annotated[
        str | None,
        Header(
            alias="X-Experience-API-Version",
            description=f"Required: one of {', '.join(SUPPORTED_VERSIONS)}",
        ),
    ] = None,
) -> str:
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


def xapi_principal(
    request: Request,
    version: Annotated[str, Depends(xapi_version)],
    basic_credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
    bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """An API key with ``completions:write``, by Basic or Bearer."""
    key = presented_key(basic_credentials, bearer_credentials)
    if key is None:
        raise XapiUnauthorized(
            "Send the API key as HTTP Basic (username: key prefix, password: key secret or the "
            "whole key) or as 'Authorization: Bearer <key>'."
        )
    principal = authenticate(request.app.state.engine, key)
    if principal is None:
        raise XapiUnauthorized("The API key is not valid (unknown, malformed or revoked).")
    request.state.principal = principal
    request.state.xapi_version = version
    if not grants(principal.scopes, SCOPE):
        raise Forbidden(f"This API key lacks the '{SCOPE}' scope.", required_scope=SCOPE)
    return principal


PrincipalDep = Annotated[Principal, Depends(xapi_principal)]
XapiSettingsDep = Annotated[XapiSettings, Depends(get_xapi_settings)]
StatementsBody = Annotated[
    Any,
    Body(
        description="One xAPI statement or an array of them (all or nothing)",
        examples=[STATEMENT_EXAMPLE],
    ),
]

router = APIRouter(
    prefix="/xapi",
    tags=["xapi"],
    responses=problem_responses(400, 401, 403),
)


def _metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def _store(
    request: Request,
    session: SessionDep,
    issuer: IssuerDep,
    settings: XapiSettings,
    principal: Principal,
    raws: list[Any],
    statement_id: str | None,
) -> list[str]:
    counter = _metrics(request).xapi_statements
    try:
        statements = service.validate_batch(
            raws, statement_id=statement_id, version=request.state.xapi_version
        )
        ingested = service.ingest(
            session, issuer, settings, statements, source=principal.prefix, actor=principal.actor
        )
    except service.StatementConflict:
        counter.labels("conflict").inc(len(raws))
        raise
    except ServiceError:
        counter.labels("rejected").inc(len(raws))
        raise
    for outcome, count in ingested.outcomes.items():
        counter.labels(outcome).inc(count)
    return ingested.ids


@router.post(
    "/statements",
    operation_id="postXapiStatements",
    responses=problem_responses(409),
)
def post_statements(
    request: Request,
    session: SessionDep,
    issuer: IssuerDep,
    settings: XapiSettingsDep,
    principal: PrincipalDep,
    body: StatementsBody = None,
) -> list[str]:
    """Store one statement or an array; returns the statement ids in order."""
    if isinstance(body, list):
        raws = body
    elif isinstance(body, dict):
        raws = [body]
    else:
        raise InvalidStatement("The body must be a JSON statement object or an array of them.")
    return _store(request, session, issuer, settings, principal, raws, None)


@router.put(
    "/statements",
    operation_id="putXapiStatement",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(409),
)
def put_statement(
    request: Request,
    session: SessionDep,
    issuer: IssuerDep,
    settings: XapiSettingsDep,
    principal: PrincipalDep,
    statement_id: Annotated[
        str | None, Query(alias="statementId", description="The statement's UUID")
    ] = None,
    body: StatementsBody = None,
) -> Response:
    """Store one statement under ``statementId``; the same statement again changes nothing."""
    if statement_id is None or not UUID_PATTERN.match(statement_id):
        raise InvalidStatement(
            "PUT needs a statementId query parameter holding a UUID.", field="statementId"
        )
    if not isinstance(body, dict):
        raise InvalidStatement("The body must be one JSON statement object.")
    _store(request, session, issuer, settings, principal, [body], statement_id.lower())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/about", operation_id="getXapiAbout")
def about(_principal: PrincipalDep) -> About:
    """The xAPI versions this endpoint accepts."""
    return About(version=list(SUPPORTED_VERSIONS))
