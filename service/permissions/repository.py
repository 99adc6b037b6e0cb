"""The permission check's reads: one statement per request on a dedicated connection.

A check is answered from a *snapshot* read in one statement: the caller's API client row, the
catalog revision and, for each learner asked about, the learner row, every credential with its
status events and the attribute history. Nothing is cached across requests except the compiled
catalog (keyed by the revision read in that same statement), so a revocation or a revoked API key
committed by any process is seen by the very next check everywhere.

Why not the ORM or the pool: the check endpoints are ``async def`` and run this read directly on
the event loop (no thread hop); each process keeps one DBAPI connection in autocommit mode for it
(no BEGIN/ROLLBACK round trips, no pool checkout or pre-ping). On SQLite the statement is an
in-process call of tens of microseconds; on PostgreSQL one round trip, prepared by psycopg after
a few executions. Completions are read only when a denial needs to say which courses are missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy.engine import Engine

from service.core.dedicated import DedicatedConnection

_BRANCHES = """
SELECT 'c', cr.learner_id, cr.id, cr.level_id, cr.valid_from, cr.valid_until, cr.status,
       cr.status_changed_at, cr.superseded_by, cr.superseded_at, e.status, e.at, e.id
  FROM credential cr
  LEFT JOIN credential_status_event e
    ON e.credential_id = cr.id AND (e.status <> 'active' OR e.at > cr.issued_at)
 WHERE cr.learner_id {learners} AND (cr.superseded_at IS NULL OR cr.superseded_at > {param})
UNION ALL
SELECT 'a', a.learner_id, NULL, a.name, a.changed_at, NULL, a.value,
       NULL, NULL, NULL, NULL, NULL, a.id
  FROM learner_attribute_change a
 WHERE a.learner_id {learners}
UNION ALL
SELECT 'l', l.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM learner l
 WHERE l.id {learners}
"""

# The caller's key and the catalog revision ride along in the same statement. (They come after
# the credential branch, whose columns are all typed, so PostgreSQL resolves the NULLs by it.)
_CLIENT_BRANCHES = """
UNION ALL
SELECT 'k', NULL, k.secret_hash, k.scopes, k.revoked_at, NULL, k.name, NULL, NULL, NULL, NULL,
       NULL, k.id
  FROM api_client k
 WHERE k.prefix = {param}
UNION ALL
SELECT 'r', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.revision
  FROM catalog_state s
 WHERE s.id = 1
"""

_COMPLETIONS = """
SELECT learner_id, id, course_id, completed_at, score, passed
  FROM completion
 WHERE learner_id {learners}
"""


class ClientRow(NamedTuple):
    id: int
    name: str
    secret_hash: str
    scopes: str
    revoked: bool


class CredentialRow(NamedTuple):
    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    status: str
    status_changed_at: datetime | None
    superseded_by: str | None
    superseded_at: datetime | None
    events: list[tuple[datetime, int, str]]  # (at, event id, status), in any order


class AttributeChange(NamedTuple):
    name: str
    value: str | None
    changed_at: datetime
    id: int


@dataclass
class LearnerRows:
    """Everything a decision needs about one learner (``known`` is False: never heard of)."""

    known: bool = False
    credentials: dict[str, CredentialRow] = field(default_factory=dict)
    attributes: list[AttributeChange] = field(default_factory=list)


class CompletionRow(NamedTuple):
    id: str
    course: str
    completed_at: datetime
    score: float | None
    passed: bool


@dataclass
class Snapshot:
    client: ClientRow | None
    catalog_revision: int
    learners: dict[str, LearnerRows]


class PermissionStore(DedicatedConnection):
    """One process's dedicated connection for permission reads.

    Used from the event loop thread; a lock makes accidental use from another thread safe. The
    connection is detached from the pool (it never counts against it), opened on first use,
    reopened once after an error, and closed when the engine is disposed.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        if self.dialect == "sqlite":
            self._param, learners = "?", "IN (SELECT value FROM json_each(?))"
            self._dt: Callable[[Any], datetime | None] = _sqlite_datetime
        else:
            self._param, learners = "%s", "= ANY(%s)"
            self._dt = _aware_datetime
        branches = _BRANCHES.format(learners=learners, param=self._param)
        self._snapshot_sql = branches + _CLIENT_BRANCHES.format(param=self._param)
        self._completions_sql = _COMPLETIONS.format(learners=learners)

    # ------------------------------------------------------------------ connection handling

    def _learners_param(self, learner_ids: Sequence[str]) -> Any:
        return json.dumps(list(learner_ids)) if self.dialect == "sqlite" else list(learner_ids)

    # ------------------------------------------------------------------ reads

    def snapshot(self, key_prefix: str, learner_ids: Sequence[str], latest: datetime) -> Snapshot:
        """The caller's key, the catalog revision and the learners' facts, in one statement.

        Left out, because they cannot change a decision at or before ``latest``: credentials
        superseded by then (a renewal replaced them; the renewal explains the level) and the
        ``active`` event every credential gets when issued (reinstatements come later and stay).
        """
        ids = self._learners_param(learner_ids)
        if self.dialect == "sqlite":  # stored as naive UTC text: compare in the same form
            cutoff: Any = latest.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        else:
            cutoff = latest
        rows = self.fetch(self._snapshot_sql, (ids, cutoff, ids, ids, key_prefix))
        dt = self._dt
        client: ClientRow | None = None
        revision = 0
        learners: dict[str, LearnerRows] = {}
        for row in rows:
            kind = row[0]
            if kind == "c":
                facts = learners.get(row[1])
                if facts is None:
                    facts = learners[row[1]] = LearnerRows()
                credential = facts.credentials.get(row[2])
                if credential is None:
                    credential = facts.credentials[row[2]] = CredentialRow(
                        row[2],
                        row[3],
                        dt(row[4]),  # type: ignore[arg-type]
                        dt(row[5]),
                        row[6],
                        dt(row[7]),
                        row[8],
                        dt(row[9]),
                        [],
                    )
                if row[10] is not None:
                    credential.events.append((dt(row[11]), row[12], row[10]))  # type: ignore[arg-type]
            elif kind == "a":
                facts = learners.get(row[1])
                if facts is None:
                    facts = learners[row[1]] = LearnerRows()
                facts.attributes.append(AttributeChange(row[3], row[6], dt(row[4]), row[12]))  # type: ignore[arg-type]
            elif kind == "l":
                facts = learners.get(row[1])
                if facts is None:
                    facts = learners[row[1]] = LearnerRows()
                facts.known = True
            elif kind == "k":
                client = ClientRow(row[12], row[6], row[2], row[3], row[4] is not None)
            else:
                revision = int(row[12])
        return Snapshot(client, revision, learners)

    def completions(self, learner_ids: Iterable[str]) -> dict[str, list[CompletionRow]]:
        """The learners' completions (read only when a denial lists the courses missing)."""
        ids = list(learner_ids)
        found: dict[str, list[CompletionRow]] = {learner_id: [] for learner_id in ids}
        if not ids:
            return found
        dt = self._dt
        for row in self.fetch(self._completions_sql, (self._learners_param(ids),)):
            found[row[0]].append(
                CompletionRow(row[1], row[2], dt(row[3]), row[4], bool(row[5]))  # type: ignore[arg-type]
            )
        return found


def _sqlite_datetime(value: Any) -> datetime | None:
    # SQLite keeps UTC as naive text; parsing with the offset appended is ~5x faster than
    # parsing and then ``replace(tzinfo=UTC)``.
    if value is None:
        return None
    if isinstance(value, datetime):  # pragma: no cover - a driver converter
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.fromisoformat(value + "+00:00")


def _aware_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = value
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
