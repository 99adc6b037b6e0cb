"""Completions API (scope ``completions:write``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel

from service.auth.service import PresentedKey, Principal
from service.completions import service
from service.completions.combiner import SCOPE, Combiner
from service.completions.common import CompletionRow
from service.completions.schemas import (
    BatchItemResult,
    BatchResult,
    CompletionBatch,
    CompletionIn,
    CompletionPublic,
    CompletionResult,
    IssuedCredential,
)
from service.deps import AuthFirstRoute, SessionDep, presented, require
from service.errors import PROBLEM_BASE, problem_responses
from service.issuance.context import IssuerDep
from service.issuance.issuing import IssuedRow
from service.models import Completion, Credential


class _AuthFirstRoute(AuthFirstRoute):
    """A request found invalid is answered 422 only to a caller whose key may write (the
    single completion admits its caller after validation, in its group)."""

    scope = SCOPE


router = APIRouter(
    prefix="/v1/completions",
    tags=["completions"],
    route_class=_AuthFirstRoute,
    responses=problem_responses(401, 403),
)
WriteDep = Annotated[Principal, Depends(require(SCOPE))]


async def get_combiner(request: Request) -> Combiner:
    """The process's single-completion writer (built with the app's engine)."""
    combiner: Combiner = request.app.state.completions
    return combiner


CombinerDep = Annotated[Combiner, Depends(get_combiner)]
#: The single completion's key, admitted by the combiner in its group's read.
PresentedKeyDep = Annotated[PresentedKey, Depends(presented(SCOPE))]


def _json(model: BaseModel, status_code: int) -> Response:
    """Serialize in the endpoint's own thread: the batch route holds its learners' locks (and
    SQLite's write lock) until the session commits, and a returned model would be serialized by
    FastAPI in a second thread-pool task first (see ``service/db.py`` ``get_session`` for why
    that once deadlocked, and the gate that now prevents it)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def completion_public(row: Completion | CompletionRow) -> CompletionPublic:
    return CompletionPublic.model_validate(row, from_attributes=True)


def issued_public(rows: Sequence[Credential | IssuedRow]) -> list[IssuedCredential]:
    return [
        IssuedCredential(
            id=c.id,
            level=c.level_id,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            renewal=c.renewal,
        )
        for c in rows
    ]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="recordCompletion",
    response_model=CompletionResult,
    responses=problem_responses(
        409, 422, extra={200: {"description": "Replay of an earlier identical request"}}
    ),
)
async def record_completion(
    request: Request, body: CompletionIn, combiner: CombinerDep, key: PresentedKeyDep
) -> Response:
    """Record a completion; credentials it earns are issued in the same transaction."""
    # completions posted at the same moment share a transaction (group commit), and their
    # callers' keys one read (admitted by the one rule): see combiner.py
    principal, outcome = await combiner.record(body, key)
    request.state.principal = principal
    if outcome.problem is not None:
        raise outcome.problem
    recorded = outcome.recorded
    assert recorded is not None
    result = CompletionResult(
        completion=completion_public(recorded.completion), issued=issued_public(recorded.issued)
    )
    return _json(result, 201 if recorded.created else 200)


@router.post(
    "/batch",
    operation_id="recordCompletionBatch",
    response_model=BatchResult,
    responses=problem_responses(422),
)
def record_completion_batch(
    body: CompletionBatch, session: SessionDep, issuer: IssuerDep, principal: WriteDep
) -> Response:
    """Up to 1,000 completions; per-item results in order (one bad item sinks nothing)."""
    outcomes = service.record_batch(
        session, issuer, body.items, source=principal.prefix, actor=principal.actor
    )
    items = []
    for outcome in outcomes:
        if outcome.recorded is not None:
            items.append(
                BatchItemResult(
                    index=outcome.index,
                    status=201 if outcome.recorded.created else 200,
                    completion=completion_public(outcome.recorded.completion),
                    issued=issued_public(outcome.recorded.issued),
                )
            )
        else:
            problem = outcome.problem
            assert problem is not None
            items.append(
                BatchItemResult(
                    index=outcome.index,
                    status=problem.status,
                    problem={
                        "type": PROBLEM_BASE + problem.type,
                        "title": problem.title,
                        "status": problem.status,
                        "detail": problem.detail,
                        **({"errors": problem.errors} if problem.errors else {}),
                        **problem.extra,
                    },
                )
            )
    result = BatchResult(
        stored=sum(1 for i in items if i.status == 201),
        replayed=sum(1 for i in items if i.status == 200),
        rejected=sum(1 for i in items if i.status >= 400),
        items=items,
    )
    return _json(result, 200)
