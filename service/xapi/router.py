"""xAPI statements resource, LRS-shaped: POST/PUT statements (scope ``completions:write``),
GET them back (scope ``xapi:read``), and the public ``about`` resource. Authentication and the
version header are in :mod:`service.xapi.auth`."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Query, Request, Response, status
from prometheus_client import Counter

from service.auth.service import Principal
from service.deps import SessionDep, SettingsDep
from service.errors import ServiceError, problem_responses
from service.issuance.context import Issuer, IssuerDep
from service.observability import MetricsDep
from service.xapi import attachments, reading, service
from service.xapi.attachments import StatementsBody
from service.xapi.auth import ReaderDep, VersionDep, WriterDep
from service.xapi.middleware import SUPPORTED_VERSIONS
from service.xapi.schemas import (
    CONSISTENT_THROUGH,
    GET_PARAMETERS,
    GET_RESPONSES,
    STATEMENTS_BODY,
    About,
)
from service.xapi.settings import XapiSettings, XapiSettingsDep
from service.xapi.validation import UUID_PATTERN, InvalidStatement


async def statements_body(request: Request) -> StatementsBody:
    """The statements (and attachment parts) of a POST/PUT body; the body size cap applies."""
    return attachments.read_body(request.headers.get("content-type"), await request.body())


BodyDep = Annotated[StatementsBody, Depends(statements_body)]

router = APIRouter(prefix="/xapi", tags=["xapi"])
_WRITE_RESPONSES = problem_responses(400, 401, 403, 409)


class Door(NamedTuple):
    """What every write takes from the process: the issuer, the xAPI settings, the statement
    counter on ``/metrics`` and the base URL (the authority's home page)."""

    issuer: Issuer
    settings: XapiSettings
    counter: Counter
    base_url: str


async def door(
    issuer: IssuerDep, settings: XapiSettingsDep, metrics: MetricsDep, app_settings: SettingsDep
) -> Door:
    return Door(issuer, settings, metrics.xapi_statements, app_settings.base_url)


DoorDep = Annotated[Door, Depends(door)]


def _store(
    session: SessionDep,
    door: Door,
    principal: Principal,
    version: str,
    body: StatementsBody,
    raws: list[Any],
    statement_id: str | None,
) -> service.Ingested:
    counter = door.counter
    location = "statements" if statement_id is None else "statement"
    try:
        statements = service.validate_batch(
            raws, statement_id=statement_id, location=location, version=version
        )
        received = attachments.match(statements, body.parts, location=location)
        ingested = service.ingest(
            session,
            door.issuer,
            door.settings,
            statements,
            source=principal.prefix,
            actor=principal.actor,
            authority=_authority(door.base_url, principal),
            version=version,
            attachments=received,
        )
    except service.StatementConflict:
        counter.labels("conflict").inc(len(raws))
        raise
    except ServiceError:
        counter.labels("rejected").inc(len(raws))
        raise
    for outcome, count in ingested.outcomes.items():
        counter.labels(outcome).inc(count)
    return ingested


def _authority(base_url: str, principal: Principal) -> dict[str, Any]:
    """The statements' authority: the API client that sent them, as an xAPI Agent."""
    return {
        "objectType": "Agent",
        "name": principal.name,
        "account": {"homePage": base_url, "name": principal.prefix},
    }


def _through(moment: datetime) -> dict[str, str]:
    return {CONSISTENT_THROUGH: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")}


@router.post(
    "/statements",
    operation_id="postXapiStatements",
    responses=_WRITE_RESPONSES,
    openapi_extra=STATEMENTS_BODY,
)
def post_statements(
    response: Response,
    session: SessionDep,
    door: DoorDep,
    principal: WriterDep,
    version: VersionDep,
    body: BodyDep,
) -> list[str]:
    """Store one statement or an array (JSON, or multipart/mixed with attachments); returns the
    statement ids in order."""
    if isinstance(body.statements, list):
        raws = body.statements
    elif isinstance(body.statements, dict):
        raws = [body.statements]
    else:
        raise InvalidStatement("The body must be a JSON statement object or an array of them.")
    ingested = _store(session, door, principal, version, body, raws, None)
    response.headers.update(_through(ingested.stored_at))
    return ingested.ids


@router.put(
    "/statements",
    operation_id="putXapiStatement",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=_WRITE_RESPONSES,
    openapi_extra=STATEMENTS_BODY,
)
def put_statement(
    session: SessionDep,
    door: DoorDep,
    principal: WriterDep,
    version: VersionDep,
    body: BodyDep,
    statement_id: Annotated[
        str | None, Query(alias="statementId", description="The statement's UUID")
    ] = None,
) -> Response:
    """Store one statement under ``statementId``; the same statement again changes nothing."""
    if statement_id is None or not UUID_PATTERN.match(statement_id):
        raise InvalidStatement(
            "PUT needs a statementId query parameter holding a UUID.", field="statementId"
        )
    if not isinstance(body.statements, dict):
        raise InvalidStatement("The body must be one JSON statement object.")
    ingested = _store(
        session, door, principal, version, body, [body.statements], statement_id.lower()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=_through(ingested.stored_at))


@router.get(
    "/statements",
    operation_id="getXapiStatements",
    responses=problem_responses(400, 401, 403, 404) | GET_RESPONSES,
    openapi_extra=GET_PARAMETERS,
)
def get_statements(
    request: Request, session: SessionDep, principal: ReaderDep, version: VersionDep
) -> Response:
    """One statement (``statementId`` or ``voidedStatementId``), or a page of statements with
    ``more`` linking the next (filters ``agent``, ``verb``, ``activity``, ``since``,
    ``until``; ``limit``, ``ascending``, ``format``, ``attachments``)."""
    reply = reading.read(
        session,
        request.query_params.multi_items(),
        path=request.url.path,
        accept_language=request.headers.get("accept-language"),
    )
    headers = _through(reply.consistent_through)
    if reply.last_modified is not None:
        headers["Last-Modified"] = format_datetime(reply.last_modified, usegmt=True)
    return Response(reply.body, media_type=reply.media_type, headers=headers)


@router.get("/about", operation_id="getXapiAbout")
def about() -> About:
    """The xAPI versions this endpoint accepts. Public, and answered whatever the
    X-Experience-API-Version header says (xAPI 1.0.3 Communication 2.8)."""
    return About(version=list(SUPPORTED_VERSIONS))
