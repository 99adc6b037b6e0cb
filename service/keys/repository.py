"""The signing keys' queries."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.models import SigningKey


def all_keys(session: Session) -> list[SigningKey]:
    """Every key, oldest first."""
    return list(session.exec(select(SigningKey).order_by(col(SigningKey.created_at))))


def active_keys(session: Session) -> list[SigningKey]:
    return list(session.exec(select(SigningKey).where(SigningKey.state == "active")))


def active_kid(session: Session) -> str | None:
    query = select(SigningKey.kid).where(SigningKey.state == "active").limit(1)
    return session.exec(query).first()


def get(session: Session, kid: str, *, fresh: bool = False) -> SigningKey | None:
    """The key ``kid``; ``fresh`` re-reads it over what the session holds (after a lock)."""
    return session.get(SigningKey, kid, populate_existing=fresh)


def save(session: Session, *keys: SigningKey) -> None:
    """Write new or changed keys now (flushed, not committed)."""
    session.add_all(keys)
    session.flush()
