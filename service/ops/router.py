"""Liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from service.db import EngineDep
from service.errors import ServiceUnavailable, problem_responses
from service.migrations import current_revision, head_revision
from service.observability import MetricsDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migration: str | None


@router.get("/healthz", operation_id="healthz")
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", operation_id="readyz", responses=problem_responses(503))
def readyz(engine: EngineDep) -> Readiness:
    """The database answers and its schema is at the newest migration."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = current_revision(engine)
    except Exception as exc:
        raise ServiceUnavailable(f"Database unreachable: {type(exc).__name__}") from exc
    head = head_revision()
    if current != head:
        raise ServiceUnavailable(
            f"Database schema is at {current or 'nothing'}, code expects {head}: "
            "run `credence db upgrade`."
        )
    return Readiness(status="ok", database=engine.dialect.name, migration=current)


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(metrics: MetricsDep) -> PlainTextResponse:
    """Prometheus metrics of this process (request counts, latency histograms, decisions)."""
    body = generate_latest(metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
