"""Completions API (scope ``completions:write``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from service.auth.dependencies import require
from service.auth.service import Principal
from service.completions import service
from service.completions.models import Completion, Credential
from service.completions.schemas import (
    BatchItemResult,
    BatchResult,
    CompletionBatch,
    CompletionIn,
    CompletionPublic,
    CompletionResult,
    IssuedCredential,
)
from service.db import SessionDep
from service.errors import PROBLEM_BASE, problem_responses
from service.issuance.context import IssuerDep

router = APIRouter(
    prefix="/v1/completions", tags=["completions"], responses=problem_responses(401, 403)
)
WriteDep = Annotated[Principal, Depends(require("completions:write"))]


def completion_public(row: Completion) -> CompletionPublic:
    return CompletionPublic.model_validate(row, from_attributes=True)


def issued_public(rows: list[Credential]) -> list[IssuedCredential]:
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
    responses=problem_responses(
        409, 422, extra={200: {"description": "Replay of an earlier identical request"}}
    ),
)
def record_completion(
    body: CompletionIn,
    session: SessionDep,
    issuer: IssuerDep,
    principal: WriteDep,
    response: Response,
) -> CompletionResult:
    """Record a completion; credentials it earns are issued in the same transaction."""
    recorded = service.record_completion(
        session, issuer, body, source=principal.prefix, actor=principal.actor
    )
    response.status_code = 201 if recorded.created else 200
    return CompletionResult(
        completion=completion_public(recorded.completion), issued=issued_public(recorded.issued)
    )


@router.post("/batch", operation_id="recordCompletionBatch", responses=problem_responses(422))
def record_completion_batch(
    body: CompletionBatch, session: SessionDep, issuer: IssuerDep, principal: WriteDep
) -> BatchResult:
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
    return BatchResult(
        stored=sum(1 for i in items if i.status == 201),
        replayed=sum(1 for i in items if i.status == 200),
        rejected=sum(1 for i in items if i.status >= 400),
        items=items,
    )
