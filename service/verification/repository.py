"""The verify endpoint's read: one statement per request on a dedicated connection.

A verification needs the signing key named by the token (its public JWK and compromise time)
and the bits of the status slots the credential points at. Both are read in one statement,
fresh on every request (nothing cached across requests, so a revocation, suspension or key
compromise committed by any process is seen by the very next verification), straight from the
tables: no status-list JWT is built or signed.

Like the permission checks (see ``service/permissions/repository.py``) the read runs on the
event loop through one DBAPI connection per process, in autocommit mode, detached from the pool.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Engine

from service.core.dedicated import DedicatedConnection

# Column types line up across the branches (PostgreSQL resolves the NULLs by the other branch).
_KEY_BRANCH = """
SELECT 'k', CAST(public_jwk AS TEXT), compromised_at, NULL, NULL, NULL
  FROM signing_key WHERE kid = {p}"""
_SLOT_BRANCH = """
SELECT 's', purpose, NULL, is_set, list_id, idx
  FROM status_slot WHERE {slots}"""

_RECORDED_BRANCH = """
SELECT 'c', purpose, NULL, is_set, list_id, idx
  FROM status_slot WHERE credential_id = {p} AND purpose = 'suspension'"""

MAX_SLOTS = 8
"""Status entries looked up per token (an issued credential has two)."""


class KeyRow(NamedTuple):
    jwk: dict[str, Any]
    compromised_at: datetime | None


class SlotRow(NamedTuple):
    purpose: str
    is_set: bool


class Found(NamedTuple):
    key: KeyRow | None
    slots: dict[tuple[int, int], SlotRow]
    suspension: SlotRow | None = None  # the credential's own suspension slot, when asked


class VerifyStore(DedicatedConnection):
    """One process's dedicated connection for verification reads (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._p = "?" if self.dialect == "sqlite" else "%s"
        self._sql: dict[tuple[bool, int, bool], str] = {}

    def _statement(self, with_key: bool, slots: int, recorded: bool) -> str:
        sql = self._sql.get((with_key, slots, recorded))
        if sql is None:
            branches = [_KEY_BRANCH.format(p=self._p)] if with_key else []
            if slots:
                pair = f"(list_id = {self._p} AND idx = {self._p})"
                branches.append(_SLOT_BRANCH.format(slots=" OR ".join([pair] * slots)))
            if recorded:
                branches.append(_RECORDED_BRANCH.format(p=self._p))
            sql = self._sql[(with_key, slots, recorded)] = "\nUNION ALL".join(branches)
        return sql

    def lookup(
        self,
        thumbprint: str | None,
        slots: Sequence[tuple[int, int]],
        *,
        suspension_of: str | None = None,
    ) -> Found:
        """The key with this thumbprint (if asked), the given (list id, index) slots, and the
        suspension slot of credential ``suspension_of`` (if asked: a credential that does not
        publish its suspension entry is still suspended here)."""
        slots = list(dict.fromkeys(slots))[:MAX_SLOTS]
        if thumbprint is None and not slots and suspension_of is None:
            return Found(None, {})
        params: list[Any] = [thumbprint] if thumbprint is not None else []
        for list_id, index in slots:
            params += [list_id, index]
        if suspension_of is not None:
            params.append(suspension_of)
        key: KeyRow | None = None
        found: dict[tuple[int, int], SlotRow] = {}
        suspension: SlotRow | None = None
        statement = self._statement(thumbprint is not None, len(slots), suspension_of is not None)
        for row in self.fetch(statement, params):
            if row[0] == "k":
                jwk = row[1] if isinstance(row[1], dict) else json.loads(row[1])
                key = KeyRow(jwk, _aware(row[2]))
            elif row[0] == "c":
                suspension = SlotRow(row[1], bool(row[3]))
            else:
                found[(int(row[4]), int(row[5]))] = SlotRow(row[1], bool(row[3]))
        return Found(key, found, suspension)


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
