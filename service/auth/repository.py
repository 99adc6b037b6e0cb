"""Reading an API client row for the key rule: its own read-only statement."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine

from service.db import read_once
from service.models import ApiClient


class ClientRow(NamedTuple):
    """An API client as the key rule needs it (``service.auth.service.StoredClient``)."""

    id: int
    name: str
    secret_hash: str
    scopes: str
    revoked: bool


def read_client(engine: Engine, prefix: str) -> ClientRow | None:
    """The API client stored under ``prefix`` (one read-only statement, no transaction around
    it on PostgreSQL), or None."""
    table = ApiClient.__table__  # type: ignore[attr-defined]
    query = sa_select(
        table.c.id, table.c.name, table.c.secret_hash, table.c.scopes, table.c.revoked_at
    ).where(table.c.prefix == prefix)
    with read_once(engine) as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return ClientRow(row.id, row.name, row.secret_hash, row.scopes, row.revoked_at is not None)
