"""Learners API: upsert, read (with attribute history), search by attribute."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from service.auth.service import Principal
from service.core.ids import ATTRIBUTE_NAME, LEARNER_ID_PATTERN
from service.core.pagination import (
    BY_TEXT,
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from service.deps import SessionDep, require
from service.errors import BadRequest, problem_responses
from service.learners import service
from service.learners.schemas import (
    AttributeChangePublic,
    LearnerDetail,
    LearnerPublic,
    LearnerUpsert,
)
from service.models import Learner

router = APIRouter(prefix="/v1/learners", tags=["learners"], responses=problem_responses(401, 403))
LearnerPath = Annotated[str, Path(pattern=LEARNER_ID_PATTERN, description="External learner id")]
ReadDep = Annotated[Principal, Depends(require("learners:read"))]
# Writing learners is part of the HR/LMS integration: the completions scope covers it.
WriteDep = Annotated[Principal, Depends(require("completions:write"))]


def public(learner: Learner) -> LearnerPublic:
    return LearnerPublic(
        id=learner.id,
        email=learner.email,
        name=learner.name,
        did=learner.did,
        public_profile=learner.public_profile,
        subject_id=service.subject_id(learner),
        attributes=learner.attributes,
        created_at=learner.created_at,
        updated_at=learner.updated_at,
        revision=learner.revision,
    )


def detail(session: SessionDep, learner: Learner) -> LearnerDetail:
    history = service.attribute_history(session, learner.id)
    return LearnerDetail(
        **public(learner).model_dump(),
        attribute_history=[
            AttributeChangePublic(name=h.name, value=h.value, changed_at=h.changed_at)
            for h in history
        ],
    )


@router.put(
    "/{learner_id}",
    operation_id="upsertLearner",
    responses=problem_responses(
        422, extra={201: {"description": "Created", "model": LearnerDetail}}
    ),
)
def upsert_learner(
    learner_id: LearnerPath,
    body: LearnerUpsert,
    session: SessionDep,
    principal: WriteDep,
    response: Response,
) -> LearnerDetail:
    """Create or update a learner; attribute changes are kept with their time."""
    learner, created = service.put(
        session,
        learner_id,
        actor=principal.actor,
        email=body.email,
        name=body.name,
        did=body.did,
        public_profile=body.public_profile,
        attributes=body.attributes,
        effective_at=body.attributes_effective_at,
        clear=[f for f in ("email", "name", "did", "public_profile") if f in body.model_fields_set],
    )
    response.status_code = 201 if created else 200
    return detail(session, learner)


@router.get("/{learner_id}", operation_id="getLearner", responses=problem_responses(404, 422))
def get_learner(learner_id: LearnerPath, session: SessionDep, _: ReadDep) -> LearnerDetail:
    """A learner with attributes and their history."""
    return detail(session, service.get(session, learner_id))


_FILTER = re.compile(r"^attribute\.(.+)$")


@router.get("", operation_id="listLearners", responses=problem_responses(400, 422))
def list_learners(
    request: Request,
    session: SessionDep,
    _: ReadDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[LearnerPublic]:
    """Learners by id; filter with `attribute.NAME=VALUE` (e.g. `attribute.department=sales`)."""
    filters: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        match = _FILTER.match(key)
        if match:
            if not ATTRIBUTE_NAME.match(match.group(1)) or len(value) > 200:
                raise BadRequest(f"{key} is not a valid attribute filter")
            filters[match.group(1)] = value
        elif key not in ("cursor", "limit"):
            raise BadRequest(f"Unknown query parameter {key!r}; filter with attribute.NAME=VALUE")
    after = decode_cursor(cursor, BY_TEXT) or ""
    learners = service.search(session, filters=filters, after=after, limit=limit)
    next_cursor = encode_cursor(learners[-1].id) if len(learners) == limit else None
    return Page[LearnerPublic](items=[public(x) for x in learners], next_cursor=next_cursor)
