"""Reading the audit chain (scope ``audit:read``)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from service.audit import service
from service.core.pagination import LimitParam
from service.deps import AuditReadDep, SessionDep
from service.errors import problem_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 403))


class AuditEventPublic(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


class AuditEventPage(BaseModel):
    items: list[AuditEventPublic]
    next_after: int | None = None


@router.get("/events", operation_id="listAuditEvents", responses=problem_responses(422))
def list_audit_events(
    session: SessionDep,
    _: AuditReadDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="Return events after this seq")] = 0,
    limit: LimitParam = 100,
) -> AuditEventPage:
    """Audit events oldest first; pass `next_after` as `after` for the next page."""
    events = service.list_events(session, after=after, limit=limit)
    items = [AuditEventPublic.model_validate(e, from_attributes=True) for e in events]
    return AuditEventPage(items=items, next_after=events[-1].seq if len(events) == limit else None)
