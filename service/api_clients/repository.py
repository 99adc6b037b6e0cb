"""The API clients' queries."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.models import ApiClient


def page(session: Session, *, after_id: int, limit: int) -> list[ApiClient]:
    query = select(ApiClient).where(col(ApiClient.id) > after_id).order_by(col(ApiClient.id))
    return list(session.exec(query.limit(limit)).all())


def by_prefix(session: Session, prefix: str, *, fresh: bool = False) -> ApiClient | None:
    """The client whose key starts with ``prefix``; ``fresh`` re-reads it over what the
    session holds (after a lock)."""
    query = select(ApiClient).where(ApiClient.prefix == prefix)
    if fresh:
        query = query.execution_options(populate_existing=True)
    return session.exec(query).first()


def save(session: Session, client: ApiClient) -> None:
    """Write a new or changed client now (flushed, not committed; a new one gets its id)."""
    session.add(client)
    session.flush()
