"""Permission checks: REST (single and batch) and OpenID AuthZEN 1.0 evaluation endpoints.

Every handler here is ``async def`` and reads the database on the event loop through
:class:`~service.permissions.service.Permissions` (one statement, dedicated connection), so the
thread pool is never involved; see ``service/permissions/repository.py`` for why. Every door
admits its caller by the one API-key rule (:mod:`service.auth.service`), 401/403 before any
422/400 (the route classes).

The single check (``GET /v1/permissions/check``), the endpoint publishers call most, keeps a
hand path: no dependencies (it reads the bearer key and the checker itself, so
``dependency_overrides`` of ``get_permissions`` does not reach it), its query parameters
validated by :func:`_query_check` and documented by ``_CHECK_PARAMETERS``. Measured on the
shared 2-core machine: in-process (ASGI call, SQLite) a check cost ~450-550 us this way, ~+120
us with the checker as a dependency and ~+400 us (+70%) with the key and checker as
dependencies as the other doors take them; with FastAPI's Query parameters (key and checker
still by hand), ``bench/permissions.py`` gave check/floor 0.33 (SQLite) and 0.37 (PostgreSQL)
against 0.47 and 0.50 for this hand path run just before it. Other load made single runs vary
from 0.22 to 0.47 for the same code, so the hand path stays until a quiet machine says the
FastAPI form keeps >= 0.5x the floor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, NamedTuple

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from service.auth.service import PresentedKey
from service.core.ids import LEARNER_ID_PATTERN, SLUG_PATTERN
from service.core.times import RANGE_TEXT, parse_instant
from service.db import utcnow
from service.deps import (
    AuthFirstRoute,
    SettingsDep,
    bearer_key,
    presented,
    refuse_unless_allowed,
)
from service.errors import BadRequest, InvalidInput, problem_responses, validation_errors
from service.permissions.deps import PermissionsDep, get_permissions
from service.permissions.schemas import (
    Action,
    AuthZenConfiguration,
    BatchCheckRequest,
    BatchCheckResponse,
    EvaluationRequest,
    EvaluationResponse,
    EvaluationsRequest,
    EvaluationsResponse,
    PermissionDecision,
    Resource,
    Subject,
)
from service.permissions.service import SCOPE, Answer, Check, Permissions


async def _refuse_unless_allowed(request: Request, key: PresentedKey | None = None) -> None:
    await refuse_unless_allowed(request, SCOPE, key)


class _AuthFirstRoute(AuthFirstRoute):
    """Validation errors are reported only to callers whose key may check permissions."""

    scope = SCOPE


router = APIRouter(
    tags=["permissions"], route_class=_AuthFirstRoute, responses=problem_responses(401, 403)
)


presented_key = presented(SCOPE)
KeyDep = Annotated[PresentedKey, Depends(presented_key)]


async def _run(
    request: Request,
    permissions: Permissions,
    key: PresentedKey,
    checks: list[Check],
    *,
    count: bool = True,
    **options: Any,
) -> list[Answer]:
    """Decide ``checks`` for the caller; ``count`` them on ``/metrics`` unless the caller counts
    only part (AuthZEN's short-circuits)."""
    principal, answers = await permissions.run(key, checks, **options)
    request.state.principal = principal
    if count:
        permissions.count(answers)
    return answers


def decision_json(answer: Answer) -> dict[str, Any]:
    """:class:`PermissionDecision` as a plain dict (the hot path skips model validation)."""
    check, decision = answer
    return {
        "allowed": decision.allowed,
        "learner_id": check.learner_id,
        "program": check.program,
        "at": _rfc3339(check.at),
        "reasons": decision.reasons,
        "granted_by": decision.granted_by,
        "valid_until": _rfc3339(decision.valid_until) if decision.valid_until else None,
        "missing": [
            {
                "level": m.level,
                "name": m.name,
                "courses": [{"course": c.course, "min_score": c.min_score} for c in m.courses],
                "electives_needed": m.electives_needed,
                "electives_from": list(m.electives_from),
                "levels": list(m.levels),
            }
            for m in decision.missing
        ],
    }


@lru_cache(maxsize=4096)  # a batch repeats its moment and the credentials' expiry times
def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(body: Any) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )


_LEARNER_ID = re.compile(LEARNER_ID_PATTERN)
_PROGRAM = re.compile(SLUG_PATTERN)
_CHECK_PARAMETERS = [
    {
        "name": "learner_id",
        "in": "query",
        "required": True,
        "description": "Learner id (an unknown learner is a deny, not a 404)",
        "schema": {"type": "string", "pattern": LEARNER_ID_PATTERN},
    },
    {
        "name": "program",
        "in": "query",
        "required": True,
        "description": "Program kind id",
        "schema": {"type": "string", "pattern": SLUG_PATTERN},
    },
    {
        "name": "at",
        "in": "query",
        "required": False,
        "description": (
            "RFC 3339 time with a zone to answer for (default now): the decision and its"
            " explanation use only what existed then"
        ),
        "schema": {"type": "string", "format": "date-time"},
    },
]


def _query_check(request: Request) -> Check:
    """The single check's query parameters, validated by hand (422 problems like FastAPI's)."""
    params = request.query_params
    errors: list[dict[str, str]] = []
    learner_id = params.get("learner_id")
    program = params.get("program")
    for name, value, pattern in (
        ("learner_id", learner_id, _LEARNER_ID),
        ("program", program, _PROGRAM),
    ):
        if value is None:
            errors.append(
                {"location": f"query.{name}", "message": "Field required", "type": "missing"}
            )
        elif not pattern.match(value):
            errors.append(
                {
                    "location": f"query.{name}",
                    "message": f"String should match pattern '{pattern.pattern}'",
                    "type": "string_pattern_mismatch",
                }
            )
    at = utcnow()
    raw_at = params.get("at")
    if raw_at is not None:
        try:
            parsed: datetime | None = parse_instant(raw_at)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            errors.append(
                {
                    "location": "query.at",
                    "message": f"Input should be an RFC 3339 time with a time zone, {RANGE_TEXT}",
                    "type": "datetime_parsing",
                }
            )
        else:
            at = parsed.astimezone(UTC)
    if errors:
        detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors)
        raise InvalidInput(detail, errors=errors)
    assert learner_id is not None and program is not None
    return Check(learner_id, program, at)


@router.get(
    "/v1/permissions/check",
    operation_id="checkPermission",
    response_model=None,
    responses={
        200: {"model": PermissionDecision, "description": "The decision"},
        **problem_responses(404, 422),
    },
    openapi_extra={
        "parameters": _CHECK_PARAMETERS,
        "security": [{"HTTPBearer": []}],
        "x-required-scope": "permissions:check",
    },
)
async def check_permission(request: Request) -> Response:
    """May this learner run this program kind now (or at `at`)? A deny is a 200 with reasons and
    what is missing; an unknown learner is a deny; an unknown program kind is a 404.
    Requires the `permissions:check` scope."""
    # The hot path: no dependencies or model validation, one read (see the module docstring).
    key = bearer_key(request)
    permissions = await get_permissions(request)
    try:
        check = _query_check(request)
    except InvalidInput:
        await _refuse_unless_allowed(request, key)
        raise
    answers = await _run(request, permissions, key, [check])
    return _json(decision_json(answers[0]))


@router.post(
    "/v1/permissions/check",
    operation_id="checkPermissions",
    response_model=None,
    responses={
        200: {"model": BatchCheckResponse, "description": "One decision per check, in order"},
        **problem_responses(400, 404, 422),
    },
)
async def check_permissions(
    request: Request, permissions: PermissionsDep, key: KeyDep, body: BatchCheckRequest
) -> Response:
    """Up to 1,000 checks in one call; results in request order (a 404 names unknown programs)."""
    now = utcnow()
    checks = [
        Check(c.learner_id, c.program, c.at.astimezone(UTC) if c.at else now) for c in body.checks
    ]
    answers = await _run(request, permissions, key, checks)
    return _json({"results": [decision_json(a) for a in answers]})


# ----------------------------------------------------------------------------- AuthZEN 1.0


class AuthZenRoute(APIRoute):
    """AuthZEN answers a malformed request (missing or mistyped field) with 400, not 422."""

    validation_status: ClassVar[int] = 400  # what the OpenAPI document says (service.app)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                await _refuse_unless_allowed(request)
                errors = validation_errors(exc)
                detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
                raise BadRequest(detail or "Malformed request", errors=errors) from None
            except (BadRequest, InvalidInput):  # found malformed by the handler itself
                await _refuse_unless_allowed(request)
                raise

        return route


authzen = APIRouter(
    tags=["authzen"], route_class=AuthZenRoute, responses=problem_responses(400, 401, 403)
)

SUBJECT_TYPE, RESOURCE_TYPE, ACTION = "user", "program", "run"


class _Item(NamedTuple):
    check: Check | None  # None: answered without looking (wrong type or action)
    refusal: str | None


def _item(
    subject: Subject | None,
    action: Action | None,
    resource: Resource | None,
    context: dict[str, Any] | None,
    where: str,
    now: datetime,
) -> _Item:
    missing = [
        name
        for name, value in (("subject", subject), ("action", action), ("resource", resource))
        if value is None
    ]
    if missing:
        raise BadRequest(f"{where}: missing {', '.join(missing)} (and no default given)")
    assert subject is not None and action is not None and resource is not None
    at = _context_time(context, where) or now
    if subject.type != SUBJECT_TYPE:
        return _Item(None, f"Credence decides for subjects of type '{SUBJECT_TYPE}' only")
    if resource.type != RESOURCE_TYPE:
        return _Item(None, f"Credence decides for resources of type '{RESOURCE_TYPE}' only")
    if action.name != ACTION:
        return _Item(None, f"Credence decides the action '{ACTION}' on program kinds only")
    return _Item(Check(subject.id, resource.id, at), None)


def _context_time(context: dict[str, Any] | None, where: str) -> datetime | None:
    if not context or context.get("time") is None:
        return None
    value = context["time"]
    try:
        moment = parse_instant(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            f"{where}.context.time must be an RFC 3339 time with a time zone, {RANGE_TEXT}"
        )
    return moment


async def _evaluate(
    request: Request,
    permissions: Permissions,
    key: PresentedKey,
    items: list[_Item],
    semantic: str = "execute_all",
) -> list[EvaluationResponse]:
    """Decide every item, stop where ``semantic`` says, count what is answered."""
    checks = [item.check for item in items if item.check is not None]
    answers = await _run(
        request, permissions, key, checks, count=False, unknown_program_denies=True
    )
    decided = iter(answers)
    responses: list[EvaluationResponse] = []
    answered: list[Answer] = []
    for item in items:
        if item.check is None:
            reasons = [item.refusal or "Not decidable"]
            context = {"reasons": reasons, "reason_admin": {"en": reasons[0]}}
            response = EvaluationResponse(decision=False, context=context)
        else:
            answer = next(decided)
            answered.append(answer)
            response = _authzen_decision(answer)
        responses.append(response)
        if semantic == "deny_on_first_deny" and not response.decision:
            break
        if semantic == "permit_on_first_permit" and response.decision:
            break
    permissions.count(answered)
    return responses


def _authzen_decision(answer: Answer) -> EvaluationResponse:
    context = decision_json(answer)
    allowed = context.pop("allowed")
    context["reason_admin"] = {"en": "; ".join(answer.decision.reasons)}
    return EvaluationResponse(decision=allowed, context=context)


@authzen.post("/access/v1/evaluation", operation_id="authzenEvaluation")
async def authzen_evaluation(
    request: Request, permissions: PermissionsDep, key: KeyDep, body: EvaluationRequest
) -> EvaluationResponse:
    """AuthZEN 1.0 access evaluation: subject `user` (learner id), action `run`, resource
    `program` (program kind id); `context.time` asks about a past moment. A deny is a 200."""
    item = _item(body.subject, body.action, body.resource, body.context, "body", utcnow())
    return (await _evaluate(request, permissions, key, [item]))[0]


@authzen.post("/access/v1/evaluations", operation_id="authzenEvaluations")
async def authzen_evaluations(
    request: Request, permissions: PermissionsDep, key: KeyDep, body: EvaluationsRequest
) -> EvaluationsResponse | EvaluationResponse:
    """AuthZEN 1.0 batch: top-level subject/action/resource/context are defaults for each item;
    `options.evaluations_semantic` is `execute_all` (default), `deny_on_first_deny` or
    `permit_on_first_permit` (the response stops at that item). Without `evaluations` it is a
    single evaluation."""
    now = utcnow()
    if not body.evaluations:
        item = _item(body.subject, body.action, body.resource, body.context, "body", now)
        return (await _evaluate(request, permissions, key, [item]))[0]
    items = [
        _item(
            e.subject or body.subject,
            e.action or body.action,
            e.resource or body.resource,
            e.context if e.context is not None else body.context,
            f"evaluations.{i}",
            now,
        )
        for i, e in enumerate(body.evaluations)
    ]
    semantic = body.options.evaluations_semantic if body.options else "execute_all"
    evaluations = await _evaluate(request, permissions, key, items, semantic)
    return EvaluationsResponse(evaluations=evaluations)


discovery = APIRouter(tags=["authzen"])


@discovery.get("/.well-known/authzen-configuration", operation_id="authzenConfiguration")
async def authzen_configuration(settings: SettingsDep) -> AuthZenConfiguration:
    """AuthZEN policy decision point metadata (public)."""
    base = settings.base_url
    return AuthZenConfiguration(
        policy_decision_point=base,
        access_evaluation_endpoint=f"{base}/access/v1/evaluation",
        access_evaluations_endpoint=f"{base}/access/v1/evaluations",
    )


router.include_router(authzen)
router.include_router(discovery)
