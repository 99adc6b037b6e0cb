"""The signing keys' queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case
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


def _active_kid_query(prefer: bool, only: bool) -> Any:
    query = select(SigningKey.kid).where(SigningKey.state == "active")
    if only:
        query = query.where(SigningKey.alg == bindparam("only"))
    if prefer:
        query = query.order_by(case((col(SigningKey.alg) == bindparam("prefer"), 0), else_=1))
    return query.order_by(col(SigningKey.created_at).desc()).limit(1)


# Built once: every issuing transaction reads the signing key (SQLAlchemy works out a new
# statement's cache key on every execution).
_ACTIVE_KID = {(p, o): _active_kid_query(p, o) for p in (False, True) for o in (False, True)}


def active_kid(
    session: Session, *, prefer: str | None = None, only: str | None = None
) -> str | None:
    """An active key: the newest of algorithm ``prefer`` if there is one, else the newest of
    any (``only``: of that algorithm or none)."""
    query = _ACTIVE_KID[(prefer is not None, only is not None)]
    params = {name: v for name, v in (("prefer", prefer), ("only", only)) if v is not None}
    result: str | None = session.exec(query, params=params).first()
    return result


def get(session: Session, kid: str, *, fresh: bool = False) -> SigningKey | None:
    """The key ``kid``; ``fresh`` re-reads it over what the session holds (after a lock)."""
    return session.get(SigningKey, kid, populate_existing=fresh)


def save(session: Session, *keys: SigningKey) -> None:
    """Write new or changed keys now (flushed, not committed)."""
    session.add_all(keys)
    session.flush()
