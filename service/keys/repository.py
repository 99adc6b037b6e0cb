"""The signing keys' queries."""

from __future__ import annotations

from sqlalchemy import case
from sqlmodel import Session, col, select

from service.models import SigningKey


def all_keys(session: Session) -> list[SigningKey]:
    """Every key, oldest first."""
    return list(session.exec(select(SigningKey).order_by(col(SigningKey.created_at))))


def active_keys(session: Session, alg: str | None = None) -> list[SigningKey]:
    """The active keys (of ``alg`` only, when given)."""
    query = select(SigningKey).where(SigningKey.state == "active")
    if alg is not None:
        query = query.where(SigningKey.alg == alg)
    return list(session.exec(query))


def active_kid(
    session: Session, *, prefer: str | None = None, only: str | None = None
) -> str | None:
    """An active key: the newest of algorithm ``prefer`` if there is one, else the newest of
    any (``only``: of that algorithm or none)."""
    query = select(SigningKey.kid).where(SigningKey.state == "active")
    if only is not None:
        query = query.where(SigningKey.alg == only)
    if prefer is not None:
        query = query.order_by(case((col(SigningKey.alg) == prefer, 0), else_=1))
    return session.exec(query.order_by(col(SigningKey.created_at).desc()).limit(1)).first()


def get(session: Session, kid: str, *, fresh: bool = False) -> SigningKey | None:
    """The key ``kid``; ``fresh`` re-reads it over what the session holds (after a lock)."""
    return session.get(SigningKey, kid, populate_existing=fresh)


def save(session: Session, *keys: SigningKey) -> None:
    """Write new or changed keys now (flushed, not committed)."""
    session.add_all(keys)
    session.flush()
