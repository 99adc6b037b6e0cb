"""Who is calling, and may they: the one rule every door (REST, permission checks, xAPI Basic)
applies to a presented API key, with its messages defined once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine

from service.auth.keys import hashes_match, parse_prefix
from service.models import ApiClient


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    client_id: int
    name: str
    prefix: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"api-client:{self.prefix}"


def authenticate(engine: Engine, key: str) -> Principal | None:
    """The principal a presented key stands for, or None (unknown, malformed or revoked)."""
    prefix = parse_prefix(key)
    if prefix is None:
        return None
    table = ApiClient.__table__  # type: ignore[attr-defined]
    query = sa_select(
        table.c.id, table.c.name, table.c.secret_hash, table.c.scopes, table.c.revoked_at
    ).where(table.c.prefix == prefix)
    with engine.connect().execution_options(sqlite_readonly=True) as connection:
        row = connection.execute(query).first()
    if row is None or row.revoked_at is not None or not hashes_match(key, row.secret_hash):
        return None
    return Principal(row.id, row.name, prefix, frozenset(row.scopes.split()))
