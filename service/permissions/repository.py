"""The permission check's reads, on a dedicated connection, and what they return.

Every request reads a :class:`Snapshot` in one small statement: the caller's API client row, the
catalog revision and, for each learner asked about, the learner's ``facts_revision`` (a counter
the database bumps by trigger, in the same transaction, whenever the learner's credentials,
status events, attribute history or completions change; migration 0007). The service keeps the
facts it parsed per learner and reuses them while that counter and the catalog revision stand,
so a revocation or a revoked API key committed by any process is seen by the very next check
everywhere. A learner the cache does not hold is read in full in that same statement (every
credential with its status events, the attribute history and the completions): the first
sighting of a learner, which at a million learners is nearly every check, is one round trip.
On PostgreSQL those facts come from the learner's one ``learner_facts`` row, used only while it
is labelled with the learner's current facts revision (``_SNAPSHOT_WITH_SUMMARIES``): one row
instead of four index ranges.
A learner held whose counter moved is read in full afterwards, with
:meth:`PermissionStore.facts`, again in one statement; on PostgreSQL so is a learner whose row
is missing or behind, and that statement builds the row (``_FACTS_FROM_SUMMARIES``).

Why not the ORM or the pool: the check endpoints are ``async def`` and run these reads directly
on the event loop (no thread hop); each process keeps one DBAPI connection in autocommit mode
for them (no BEGIN/ROLLBACK round trips, no pool checkout or pre-ping). On SQLite a statement is
an in-process call of microseconds, made here. On PostgreSQL the same statements go through
:mod:`service.permissions.coalescing` (asynchronous, shared by the checks in flight); this module
gives it the SQL (:class:`Statements`) and the row readers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.engine import Engine

from service.auth.repository import ClientRow
from service.core.dedicated import DedicatedConnection
from service.issuance.engine_facts import CredentialStatus

# The caller's key first: its columns are typed, so PostgreSQL resolves the later NULLs by it.
_SNAPSHOT = """
SELECT 'k', k.prefix, k.name, k.secret_hash, k.scopes, k.revoked_at, k.id
  FROM api_client k
 WHERE k.prefix {prefixes}
UNION ALL
SELECT 'r', NULL, NULL, NULL, NULL, NULL, s.revision
  FROM catalog_state s
 WHERE s.id = 1
UNION ALL
SELECT 'l', l.id, NULL, NULL, NULL, NULL, l.facts_revision
  FROM learner l
 WHERE l.id {learners}
"""

# The facts rows, 14 columns: column 12 is an integer (event id, attribute change id,
# ``passed``), column 13 the score. The credential branch comes first: its columns are typed,
# so PostgreSQL resolves the later branches' NULLs by it.
#
# A credential's events are looked up only when its status changed after it was issued: every
# status change sets ``status_changed_at`` to the event's time, and issuing sets it to
# ``issued_at`` with the one ``active`` event left out anyway. For the others (nearly all) the
# CASE gives NULL, which the index answers without reading a page: no probe per credential.
_FACTS_ROWS = """
SELECT 'c', cr.learner_id, cr.id, cr.level_id, cr.valid_from, cr.valid_until, cr.status,
       cr.status_changed_at, cr.superseded_by, cr.superseded_at, e.status, e.at, e.id,
       CAST(NULL AS FLOAT)
  FROM credential cr
  LEFT JOIN credential_status_event e
    ON e.credential_id = CASE
         WHEN cr.status_changed_at IS NULL OR cr.status_changed_at <> cr.issued_at THEN cr.id
       END
   AND (e.status <> 'active' OR e.at > cr.issued_at)
 WHERE cr.learner_id {facts_of}
UNION ALL
SELECT 'a', a.learner_id, NULL, a.name, a.changed_at, NULL, a.value,
       NULL, NULL, NULL, NULL, NULL, a.id, NULL
  FROM learner_attribute_change a
 WHERE a.learner_id {facts_of}
UNION ALL
SELECT 'm', m.learner_id, m.id, m.course_id, m.completed_at, NULL, NULL,
       NULL, NULL, NULL, NULL, NULL, CASE WHEN m.passed THEN 1 ELSE 0 END, m.score
  FROM completion m
 WHERE m.learner_id {facts_of}
"""

# Each learner's facts revision, in the facts rows' shape: read in the same statement as the
# facts, it labels them (a later change is never masked by the cache).
_REVISIONS_ROWS = """
UNION ALL
SELECT 'l', l.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       l.facts_revision, NULL
  FROM learner l
 WHERE l.id {learners}
"""

_FACTS = _FACTS_ROWS + _REVISIONS_ROWS

# The snapshot and the facts of the learners the cache does not hold, in one statement (the
# first sighting of a learner, which is every check but 1% at a million learners, is then one
# round trip, not two). The key row's columns sit where the facts rows' have the same types.
_SNAPSHOT_WITH_FACTS = (
    _FACTS_ROWS
    + """
UNION ALL
SELECT 'k', k.prefix, k.name, k.secret_hash, k.revoked_at, NULL, k.scopes,
       NULL, NULL, NULL, NULL, NULL, k.id, NULL
  FROM api_client k
 WHERE k.prefix {prefixes}
UNION ALL
SELECT 'r', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, s.revision, NULL
  FROM catalog_state s
 WHERE s.id = 1
"""
    + _REVISIONS_ROWS
)

# PostgreSQL: a learner's facts as one text, one row a learner, for ``learner_facts``
# (migrations 0017, 0018, 0019): the facts rows above. ``{learner}`` names the learner's id.
# Four parts, in this order, with the group separator (chr(29)) between them: the credentials,
# the status events the facts rows pick, the attribute changes, the completions. In a part,
# every field of every record follows the last, with the unit separator (chr(31)) between
# them, so a part splits into its fields at once and a record is a fixed number of them:
#
# * a credential: its id, level_id, status, superseded_by, valid_from, valid_until,
#   status_changed_at and superseded_at. An active credential's status_changed_at is left
#   out: nothing reads it (``status_times`` counts it only for a credential revoked or
#   suspended), and it is nearly every credential's;
# * a status event: its credential_id, status, at and id;
# * an attribute change: its name, value, changed_at and id;
# * a completion: its id, course_id, completed_at, score and passed (1 or 0).
#
# An empty field is NULL (no id, status, name, course or moment is ever empty). Moments are
# written in UTC as ``datetime.fromisoformat`` reads them fastest, whatever the session's time
# zone; scores as PostgreSQL writes a float8 (``extra_float_digits`` 1 or more: the shortest
# text that reads back as the same number, which the connections that build rows set). Only
# an attribute's value is free text: one that is empty or holds a separator (chr(28) to 31) is
# written as chr(28) and its JSON string instead, which holds none of them.
#
# Ordered: the credentials by level and id, events and attribute changes by id, completions by
# course and id (the same facts make the same row).
#
# One text, not typed arrays: PostgreSQL sends a text as it stands but an array element by
# element, and psycopg makes an element's value dearer than Python's split and
# ``datetime.fromisoformat`` do (the six arrays of migration 0018 cost PostgreSQL some 7 us a
# learner more to send, and a client about 12,000 instructions more to read, than
# this text: docs/performance-history.md, "The facts row as one text").
SUMMARY_COLUMNS = ("facts",)
_SUMMARY_TYPES = ("text",)
_MOMENT = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
_FIELD = "chr(31)"


def _record(*fields: str) -> str:
    """A record's fields with the unit separator between them (``concat`` writes NULL as
    '')."""
    return "concat(" + f", {_FIELD}, ".join(fields) + ")"


_CREDENTIAL = _record(
    "fc.id",
    "fc.level_id",
    "fc.status",
    "fc.superseded_by",
    _MOMENT.format("fc.valid_from"),
    _MOMENT.format("fc.valid_until"),
    _MOMENT.format("CASE WHEN fc.status <> 'active' THEN fc.status_changed_at END"),
    _MOMENT.format("fc.superseded_at"),
)
_EVENT = _record("fe.credential_id", "fe.status", _MOMENT.format("fe.at"), "fe.id")
_ATTRIBUTE = _record(
    "fa.name",
    "CASE WHEN fa.value = ''"
    " OR translate(fa.value, chr(28) || chr(29) || chr(30) || chr(31), '') <> fa.value"
    " THEN chr(28) || to_json(fa.value)::text ELSE fa.value END",
    _MOMENT.format("fa.changed_at"),
    "fa.id",
)
_COMPLETION = _record(
    "fm.id",
    "fm.course_id",
    _MOMENT.format("fm.completed_at"),
    "fm.score",
    "CASE WHEN fm.passed THEN 1 ELSE 0 END",
)
_SUMMARY_PARTS = """
 CROSS JOIN LATERAL (
    SELECT string_agg({credential}, chr(31) ORDER BY fc.level_id, fc.id) AS t
      FROM credential fc
     WHERE fc.learner_id = {learner}) fc
 CROSS JOIN LATERAL (
    SELECT string_agg({event}, chr(31) ORDER BY fe.id) AS t
      FROM credential ec
      JOIN credential_status_event fe ON fe.credential_id = ec.id
     WHERE ec.learner_id = {learner}
       AND (ec.status_changed_at IS NULL OR ec.status_changed_at <> ec.issued_at)
       AND (fe.status <> 'active' OR fe.at > ec.issued_at)) fe
 CROSS JOIN LATERAL (
    SELECT string_agg({attribute}, chr(31) ORDER BY fa.id) AS t
      FROM learner_attribute_change fa
     WHERE fa.learner_id = {learner}) fa
 CROSS JOIN LATERAL (
    SELECT string_agg({completion}, chr(31) ORDER BY fm.course_id, fm.id) AS t
      FROM completion fm
     WHERE fm.learner_id = {learner}) fm
"""
_RECORDS = {
    "credential": _CREDENTIAL,
    "event": _EVENT,
    "attribute": _ATTRIBUTE,
    "completion": _COMPLETION,
}
# The one column from the parts above (a part with no records is NULL, which ``concat``
# writes as '').
_SUMMARY_VALUES = "concat(fc.t, chr(29), fe.t, chr(29), fa.t, chr(29), fm.t)"

# PostgreSQL: the snapshot with the facts of the learners the cache does not hold
# (``facts_of``) from their ``learner_facts`` rows, read only: each such learner comes back in
# one row, ``'s'`` with its row's facts when the row's revision is the learner's facts revision
# read here, else ``'l'`` with its revision alone (a row missing, behind, or ahead because a
# concurrent check read a later change): the check then reads its facts on the facts lane
# (``_FACTS_FROM_SUMMARIES``), which builds the rows. Nothing here writes: the statement every
# check runs carries no write (executing the writing part, even when it wrote nothing, cost
# PostgreSQL about 30 us a statement: docs/performance-history.md, "The cold check on a faster
# machine"), nor a CTE (one row a learner, not two, cost it 1.5-4 us a learner less). The plain
# snapshot's seven columns, then a facts row's text.
_SNAPSHOT_WITH_SUMMARIES = """
SELECT CASE WHEN s.learner_id IS NULL THEN 'l' ELSE 's' END, l.id, NULL, NULL, NULL, NULL,
       l.facts_revision, {columns_of_s}
  FROM learner l
  LEFT JOIN learner_facts s ON s.learner_id = l.id AND s.revision = l.facts_revision
 WHERE l.id {facts_of}
UNION ALL
SELECT 'k', k.prefix, k.name, k.secret_hash, k.scopes, k.revoked_at, k.id, {nulls}
  FROM api_client k
 WHERE k.prefix {prefixes}
UNION ALL
SELECT 'r', NULL, NULL, NULL, NULL, NULL, s.revision, {nulls}
  FROM catalog_state s
 WHERE s.id = 1
UNION ALL
SELECT 'l', l.id, NULL, NULL, NULL, NULL, l.facts_revision, {nulls}
  FROM learner l
 WHERE l.id {learners}
"""

# PostgreSQL: the facts of learners (the facts lane's: those a snapshot did not bring) from
# their ``learner_facts`` rows, building each row that is missing or behind from the tables in
# this statement's snapshot, labelled with the revision read in that same snapshot, and
# written (``built``); never over a row labelled later, which is left alone: that learner comes
# back known (``'l'``) but without facts, and is read from the tables. Rows are written in
# learner id order, as everywhere they are written: two statements writing the same learners'
# rows wait for each other, never in a cycle. Columns: the kind, the learner, the revision
# (the learner's, or the row's), the facts text.
_FACTS_FROM_SUMMARIES = """
WITH asked AS MATERIALIZED (
    SELECT l.id, l.facts_revision, s.*
      FROM learner l
      LEFT JOIN learner_facts s ON s.learner_id = l.id
     WHERE l.id {facts_of}
), built AS (
    INSERT INTO {insert}
    SELECT a.id, a.facts_revision, {values}
      FROM asked a {parts_of_a}
     WHERE a.revision IS DISTINCT FROM a.facts_revision
     ORDER BY a.id
    ON CONFLICT (learner_id) DO UPDATE SET {update}
     WHERE s.revision <= excluded.revision
    RETURNING s.*
)
SELECT 'l', a.id, a.facts_revision, {typed_nulls}
  FROM asked a
UNION ALL
SELECT 's', a.id, a.revision, {columns_of_a}
  FROM asked a
 WHERE a.revision = a.facts_revision
UNION ALL
SELECT 's', b.learner_id, b.revision, {columns_of_b}
  FROM built b
"""

# Every learner's ``learner_facts`` row built or brought up to date, ahead of the checks
# (:func:`build_summaries`): a batch of learners by id, after the id ``%s``, ``%s`` of them.
_BUILD_SUMMARIES = """
WITH batch AS (
    SELECT l.id, l.facts_revision FROM learner l WHERE l.id > %s ORDER BY l.id LIMIT %s
), built AS (
    INSERT INTO {insert}
    SELECT b.id, b.facts_revision, {values}
      FROM batch b {parts_of_b}
     ORDER BY b.id
    ON CONFLICT (learner_id) DO UPDATE SET {update}
     WHERE s.revision < excluded.revision
)
SELECT max(id), count(*) FROM batch
"""

# What the two statements above are filled with.
_SUMMARY_SQL = {
    "insert": f"learner_facts AS s (learner_id, revision, {', '.join(SUMMARY_COLUMNS)})",
    "values": _SUMMARY_VALUES,
    "parts_of_a": _SUMMARY_PARTS.format(learner="a.id", **_RECORDS),
    "parts_of_b": _SUMMARY_PARTS.format(learner="b.id", **_RECORDS),
    "update": ", ".join(
        ["revision = excluded.revision"] + [f"{c} = excluded.{c}" for c in SUMMARY_COLUMNS]
    ),
    "typed_nulls": ", ".join(f"CAST(NULL AS {t})" for t in _SUMMARY_TYPES),
    "nulls": ", ".join(["NULL"] * len(SUMMARY_COLUMNS)),
    "columns_of_a": ", ".join(f"a.{c}" for c in SUMMARY_COLUMNS),
    "columns_of_b": ", ".join(f"b.{c}" for c in SUMMARY_COLUMNS),
    "columns_of_s": ", ".join(f"s.{c}" for c in SUMMARY_COLUMNS),
}


class CredentialRow(NamedTuple):
    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    status: CredentialStatus
    status_changed_at: datetime | None
    superseded_by: str | None
    superseded_at: datetime | None
    events: list[tuple[datetime, int, str]]  # (at, event id, status), in any order


class AttributeChange(NamedTuple):
    name: str
    value: str | None
    changed_at: datetime
    id: int


class CompletionRow(NamedTuple):
    id: str
    course: str
    completed_at: datetime
    score: float | None
    passed: bool


@dataclass
class LearnerRows:
    """Everything a decision needs about one learner, as of ``revision`` (its facts_revision)."""

    known: bool = False
    revision: int = 0
    credentials: dict[str, CredentialRow] = field(default_factory=dict)
    attributes: list[AttributeChange] = field(default_factory=list)
    completions: list[CompletionRow] = field(default_factory=list)


class SummaryRow(NamedTuple):
    """One learner's ``learner_facts`` row as read (PostgreSQL): the facts revision it holds
    and its facts text (:data:`SUMMARY_COLUMNS`). The check makes its facts straight from it
    (:meth:`~service.permissions.cache.LearnerFacts.from_summary`): the same facts
    :class:`LearnerRows` of the tables give (``tests/permissions/test_facts_summary.py``)."""

    revision: int
    facts: str


#: A learner's facts as a read gives them: from the tables, or from its ``learner_facts`` row.
FactsRows = LearnerRows | SummaryRow


@dataclass
class Snapshot:
    """The caller's key, the catalog revision and each known learner's facts revision; with
    the facts of the learners asked for in the same statement (``facts``, known ones only)."""

    client: ClientRow | None
    catalog_revision: int
    revisions: dict[str, int]
    facts: Mapping[str, FactsRows] = field(default_factory=dict)


class PermissionStore(DedicatedConnection):
    """One process's dedicated connection for permission reads.

    Used from the event loop thread; a lock makes accidental use from another thread safe. The
    connection is detached from the pool (it never counts against it), opened on first use,
    reopened once after an error, and closed when the engine is disposed.
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.sql = Statements(self.dialect)

    # ------------------------------------------------------------------ reads

    def snapshot(
        self, key_prefix: str, learner_ids: Sequence[str], facts_of: Sequence[str] = ()
    ) -> Snapshot:
        """The caller's key, the catalog revision and the learners' facts revisions (a learner
        missing from ``revisions`` is not known to Credence), in one statement; with the facts
        of the learners in ``facts_of`` (some of ``learner_ids``: those not cached) in the
        same statement, as :meth:`facts` reads them."""
        sql = self.sql
        if facts_of:
            if len(learner_ids) == 1:
                (one,) = learner_ids
                rows = self.fetch(sql.with_facts_one, (one, one, one, key_prefix, one))
            else:
                ids = sql.learners_param(facts_of)
                rows = self.fetch(
                    sql.with_facts, (ids, ids, ids, key_prefix, sql.learners_param(learner_ids))
                )
            return snapshot_with_facts(
                key_prefix, learner_ids, facts_of, read_rows(rows, sql.datetime)
            )
        if len(learner_ids) == 1:
            rows = self.fetch(sql.snapshot_one, (key_prefix, learner_ids[0]))
        else:
            rows = self.fetch(sql.snapshot, (key_prefix, sql.learners_param(learner_ids)))
        clients, revision, revisions = read_snapshot(rows)
        return Snapshot(clients.get(key_prefix), revision, revisions)

    def facts(self, learner_ids: Sequence[str]) -> dict[str, LearnerRows]:
        """Every fact a decision can use about each known learner, for all time (a learner not
        known to Credence is left out), in one statement.

        The ``active`` event every credential gets when issued is left out (its issue time says
        the same); reinstatements come later and stay.
        """
        ids = self.sql.learners_param(learner_ids)
        return read_facts(self.fetch(self.sql.facts, (ids, ids, ids, ids)), self.sql.datetime)


def build_summaries(engine: Engine, batch: int = 2_000) -> int:
    """Build every learner's ``learner_facts`` row that is missing or behind (PostgreSQL;
    ``credence db build-facts``), a batch of learners per transaction; returns the learners
    visited. Checks build the rows they need anyway; this only spares the first check of each
    learner the building. Safe beside checks and writers: a row is labelled with the revision
    read in its own statement, and never replaces a later one."""
    statement = _BUILD_SUMMARIES.format(**_SUMMARY_SQL)
    last, visited = "", 0
    with engine.connect() as connection:
        # Scores written exactly, as on the checks' connections (see ``_SUMMARY_PARTS``).
        connection.exec_driver_sql("SET extra_float_digits = 1")
        connection.commit()
        while True:
            row = connection.exec_driver_sql(statement, (last, batch)).one()
            connection.commit()
            if not row[1]:
                return visited
            last, visited = row[0], visited + int(row[1])


class Reads(Protocol):
    """The permission check's two reads as it awaits them: :class:`ImmediateReads` (SQLite) or
    :class:`~service.permissions.coalescing.CoalescingStore` (PostgreSQL)."""

    async def snapshot(
        self, key_prefix: str, learner_ids: Sequence[str], facts_of: Sequence[str] = ()
    ) -> Snapshot: ...

    async def facts(self, learner_ids: Sequence[str]) -> Mapping[str, FactsRows]: ...

    async def close(self) -> None: ...


class ImmediateReads:
    """:class:`PermissionStore`'s reads as awaitables: an in-process SQLite statement takes
    microseconds, so nothing is gained by waiting for company."""

    def __init__(self, store: PermissionStore) -> None:
        self.store = store

    async def snapshot(
        self, key_prefix: str, learner_ids: Sequence[str], facts_of: Sequence[str] = ()
    ) -> Snapshot:
        return self.store.snapshot(key_prefix, learner_ids, facts_of)

    async def facts(self, learner_ids: Sequence[str]) -> dict[str, LearnerRows]:
        return self.store.facts(learner_ids)

    async def close(self) -> None:
        """Nothing to do: the store's connection closes with the engine."""


class Statements:
    """The reads' SQL in a dialect's parameter style, and how its values are converted."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        if dialect == "sqlite":
            param, learners = "?", "IN (SELECT value FROM json_each(?))"
            self.datetime: Callable[[Any], datetime | None] = _sqlite_datetime
        else:
            param, learners = "%s", "= ANY(%s)"
            self.datetime = _aware_datetime
        self.snapshot = _SNAPSHOT.format(prefixes=f"= {param}", learners=learners)
        # The single check's form: a plain equality is cheaper than unpacking a list.
        self.snapshot_one = _SNAPSHOT.format(prefixes=f"= {param}", learners=f"= {param}")
        # Several callers' checks at once (PostgreSQL, see service.permissions.coalescing).
        self.snapshot_many = _SNAPSHOT.format(prefixes=learners, learners=learners)
        self.facts = _FACTS.format(facts_of=learners, learners=learners)
        # The snapshot with the facts of learners not cached: one learner, several (the
        # caller's one key). On PostgreSQL the coalesced checks read learner_facts rows instead.
        self.with_facts_one = _SNAPSHOT_WITH_FACTS.format(
            facts_of=f"= {param}", prefixes=f"= {param}", learners=f"= {param}"
        )
        self.with_facts = _SNAPSHOT_WITH_FACTS.format(
            facts_of=learners, prefixes=f"= {param}", learners=learners
        )
        # The same from the learners' ``learner_facts`` rows, and the facts lane's read that
        # builds the rows missing or behind (PostgreSQL only).
        self.with_summaries_many = _SNAPSHOT_WITH_SUMMARIES.format(
            facts_of=learners, prefixes=learners, learners=learners, **_SUMMARY_SQL
        )
        self.facts_from_summaries = _FACTS_FROM_SUMMARIES.format(facts_of=learners, **_SUMMARY_SQL)

    def learners_param(self, learner_ids: Sequence[str]) -> Any:
        return json.dumps(list(learner_ids)) if self.dialect == "sqlite" else list(learner_ids)


def read_snapshot(rows: Iterable[Any]) -> tuple[dict[str, ClientRow], int, dict[str, int]]:
    """API clients by key prefix, the catalog revision and facts revisions by learner."""
    clients: dict[str, ClientRow] = {}
    revision = 0
    revisions: dict[str, int] = {}
    for kind, text, name, secret_hash, scopes, revoked_at, number in rows:
        if kind == "l":
            revisions[text] = int(number)
        elif kind == "k":
            clients[text] = ClientRow(number, name, secret_hash, scopes, revoked_at is not None)
        else:
            revision = int(number)
    return clients, revision, revisions


def read_facts(
    rows: Iterable[Any], dt: Callable[[Any], datetime | None] | None
) -> dict[str, LearnerRows]:
    """The facts statement's rows as :class:`LearnerRows` per known learner (``dt``: see
    :func:`read_rows`)."""
    return read_rows(rows, dt)[2]


def snapshot_with_facts(
    key_prefix: str,
    learner_ids: Iterable[str],
    facts_of: Iterable[str],
    read: tuple[dict[str, ClientRow], int, dict[str, LearnerRows]],
) -> Snapshot:
    """One caller's :class:`Snapshot` of ``learner_ids`` from :func:`read_rows` of a
    snapshot-with-facts statement, with the facts of the known learners among ``facts_of``."""
    clients, revision, learners = read
    return Snapshot(
        clients.get(key_prefix),
        revision,
        {i: learners[i].revision for i in learner_ids if i in learners},
        {i: learners[i] for i in facts_of if i in learners},
    )


def read_rows(
    rows: Iterable[Any], dt: Callable[[Any], datetime | None] | None
) -> tuple[dict[str, ClientRow], int, dict[str, LearnerRows]]:
    """The facts statement's rows (or a snapshot-with-facts statement's): API clients by key
    prefix, the catalog revision, and :class:`LearnerRows` per known learner (holding only
    the revision for a learner whose facts were not asked for).

    ``dt`` makes the rows' moments UTC datetimes (:attr:`Statements.datetime`); ``None`` when
    they are already, as on the coalesced PostgreSQL reads' connections, whose session time
    zone is UTC (psycopg then gives ``datetime.UTC`` datetimes): a conversion per moment was a
    quarter of this function's instructions (``bench/cold_steps.py``).

    Every check of a learner the cache does not hold parses some fifteen rows here: the named
    tuples are made with ``tuple.__new__`` (what their ``_make`` does), not by calling the
    class, whose generated ``__new__`` is a Python frame per row (a quarter of this function's
    instructions, counted with ``bench/instructions.py``'s callgrind). Nothing is interned
    here: most learners read are never kept, and the facts cache interns what it keeps
    (:meth:`~service.permissions.cache.LearnerFacts.share_strings`).
    """
    clients: dict[str, ClientRow] = {}
    revision = 0
    learners: dict[str, LearnerRows] = {}
    new = tuple.__new__
    if dt is not None:
        rows = [_utc_moments(row, dt) for row in rows]
    for row in rows:
        kind = row[0]
        if kind == "k":
            clients[row[1]] = ClientRow(row[12], row[2], row[3], row[6], row[4] is not None)
            continue
        if kind == "r":
            revision = int(row[12])
            continue
        facts = learners.get(row[1])
        if facts is None:
            facts = learners[row[1]] = LearnerRows(False, 0, {}, [], [])
        if kind == "c":
            credential = facts.credentials.get(row[2])
            if credential is None:
                credential = facts.credentials[row[2]] = new(
                    CredentialRow,
                    (
                        row[2],
                        row[3],
                        row[4],
                        row[5],
                        row[6],  # a CredentialStatus value
                        row[7],
                        row[8],
                        row[9],
                        [],
                    ),
                )
            if row[10] is not None:
                credential.events.append((row[11], row[12], row[10]))
        elif kind == "m":
            facts.completions.append(
                new(CompletionRow, (row[2], row[3], row[4], row[13], bool(row[12])))
            )
        elif kind == "a":
            facts.attributes.append(new(AttributeChange, (row[3], row[6], row[4], row[12])))
        else:
            facts.known, facts.revision = True, int(row[12])
    known = {learner_id: facts for learner_id, facts in learners.items() if facts.known}
    return clients, revision, known


def read_summarized(
    rows: Iterable[Any],
) -> tuple[dict[str, ClientRow], int, dict[str, int], dict[str, SummaryRow]]:
    """A snapshot-with-summaries statement's rows (PostgreSQL): API clients by key prefix, the
    catalog revision, facts revisions by learner, and the ``learner_facts`` rows that came
    back."""
    clients: dict[str, ClientRow] = {}
    revision = 0
    revisions: dict[str, int] = {}
    facts: dict[str, SummaryRow] = {}
    new = tuple.__new__
    for row in rows:
        kind, text, name, secret_hash, scopes, revoked_at, number = row[:7]
        if kind == "l":
            revisions[text] = int(number)
        elif kind == "s":
            revisions[text] = revision_of = int(number)
            facts[text] = new(SummaryRow, (revision_of, row[7]))
        elif kind == "k":
            clients[text] = ClientRow(number, name, secret_hash, scopes, revoked_at is not None)
        else:
            revision = int(number)
    return clients, revision, revisions, facts


def read_summaries(rows: Iterable[Any]) -> tuple[set[str], dict[str, SummaryRow]]:
    """The facts-from-rows statement's rows (PostgreSQL): the learners known, and the
    ``learner_facts`` rows that came back, current or just built (a known learner without one
    had a row labelled later, left alone)."""
    known: set[str] = set()
    facts: dict[str, SummaryRow] = {}
    for row in rows:
        if row[0] == "l":
            known.add(row[1])
        else:
            facts[row[1]] = SummaryRow(int(row[2]), row[3])
    return known, facts


def _utc_moments(row: Any, dt: Callable[[Any], datetime | None]) -> tuple[Any, ...]:
    """A facts statement's row with its moments (columns 4, 5, 7, 9 and 11, or NULL) made
    UTC datetimes by ``dt``."""
    return (
        *row[:4],
        dt(row[4]),
        dt(row[5]),
        row[6],
        dt(row[7]),
        row[8],
        dt(row[9]),
        row[10],
        dt(row[11]),
        *row[12:],
    )


def _sqlite_datetime(value: Any) -> datetime | None:
    # SQLite keeps UTC as naive text; parsing with the offset appended is ~5x faster than
    # parsing and then ``replace(tzinfo=UTC)``.
    if value is None:
        return None
    if isinstance(value, datetime):  # pragma: no cover - a driver converter
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # written with an offset by something other than the service
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _aware_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    moment: datetime = value
    if moment.tzinfo is UTC:
        return moment
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
