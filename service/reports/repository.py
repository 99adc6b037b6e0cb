"""The SQL the reports are built from: every count is a GROUP BY in the database, never a Python
loop over learners or completions. Core expressions over the tables, portable between SQLite and
PostgreSQL (window functions, CTE-free subqueries, row-value comparisons).

Time is always an explicit bind parameter typed :class:`UTCDateTime`, so SQLite compares its
stored text and PostgreSQL its ``timestamptz`` alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import BindParameter

from service.core.held import requisites
from service.db import UTCDateTime
from service.models import (
    Completion,
    Credential,
    CredentialStatusEvent,
    Learner,
    LearnerAttributeChange,
    Role,
)

LEARNER = Learner.__table__  # type: ignore[attr-defined]
ATTRIBUTE = LearnerAttributeChange.__table__  # type: ignore[attr-defined]
COMPLETION = Completion.__table__  # type: ignore[attr-defined]
CREDENTIAL = Credential.__table__  # type: ignore[attr-defined]
STATUS_EVENT = CredentialStatusEvent.__table__  # type: ignore[attr-defined]
ROLE = Role.__table__  # type: ignore[attr-defined]
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CACHE_KIB = 64 * 1024


@contextmanager
def report_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only connection on one snapshot, tuned for big aggregates.

    PostgreSQL: REPEATABLE READ, read only, JIT off (compiling the plans cost more than running
    them) and more sort/hash memory, all for this transaction only. SQLite: a deferred read
    transaction (no write lock, so a long report never holds up completions) with the file
    memory-mapped and a bigger page cache, so index scans do not go through read() calls.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            connection.exec_driver_sql("SET LOCAL jit = off")
            connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")
        else:
            connection = connection.execution_options(sqlite_readonly=True)
            connection.exec_driver_sql(f"PRAGMA mmap_size = {SQLITE_MMAP_BYTES}")
            connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        try:
            yield connection
        finally:
            connection.rollback()


def moment(name: str, value: datetime) -> BindParameter[datetime]:
    """A time parameter compared the way the columns store time."""
    return bindparam(name, value, type_=UTCDateTime(), unique=True)


# --- who is in scope ---------------------------------------------------------------------------


def learner_since() -> Subquery:
    """Per learner, when they are first known to exist: the earliest of the row's creation, the
    first attribute change and the first completion (back-dated imports move it earlier)."""
    known = union_all(
        select(LEARNER.c.id.label("learner_id"), LEARNER.c.created_at.label("at")),
        select(ATTRIBUTE.c.learner_id, func.min(ATTRIBUTE.c.changed_at)).group_by(
            ATTRIBUTE.c.learner_id
        ),
        select(COMPLETION.c.learner_id, func.min(COMPLETION.c.completed_at)).group_by(
            COMPLETION.c.learner_id
        ),
    ).subquery("known")
    return (
        select(known.c.learner_id, func.min(known.c.at).label("since"))
        .group_by(known.c.learner_id)
        .subquery("since")
    )


def attribute_intervals(name: str) -> Subquery:
    """Each value attribute ``name`` had, as ``[start, end)`` (``end`` null: still current).

    Removals (``value`` null) end an interval and open none. Two changes at the same instant
    leave the later one (by id) in force.
    """
    changes = select(
        ATTRIBUTE.c.learner_id,
        ATTRIBUTE.c.value,
        ATTRIBUTE.c.changed_at.label("start"),
        func.lead(ATTRIBUTE.c.changed_at)
        .over(
            partition_by=ATTRIBUTE.c.learner_id,
            order_by=(ATTRIBUTE.c.changed_at, ATTRIBUTE.c.id),
        )
        .label("end"),
    ).where(ATTRIBUTE.c.name == literal(name, String()))
    windowed = changes.subquery("changes")
    return (
        select(windowed)
        .where(
            windowed.c.value.is_not(None),
            or_(windowed.c.end.is_(None), windowed.c.end > windowed.c.start),
        )
        .subquery(f"iv_{name}")
    )


def covers(
    interval: Subquery, t: ColumnElement[Any], *, at_end: bool = False
) -> ColumnElement[bool]:
    """``interval`` is in force at ``t`` — or, ``at_end``, just before the exclusive bound ``t``
    (the last instant of a month)."""
    if at_end:
        return and_(interval.c.start < t, or_(interval.c.end.is_(None), interval.c.end >= t))
    return and_(interval.c.start <= t, or_(interval.c.end.is_(None), interval.c.end > t))


NO_GROUP = cast(null(), String)


def value_at(
    learner_id: ColumnElement[Any], name: str, t: ColumnElement[Any], *, at_end: bool = False
) -> ColumnElement[Any]:
    """The value attribute ``name`` had for the learner at ``t`` (or just before the exclusive
    bound ``t``), from the history; null when unset or removed (the SQL form of
    :func:`service.learners.service.attributes_at`: the latest change, the later id at a
    tie). One probe of the covering index per learner: planners never turn it into a nested
    scan, as they may a join on a window-function subquery."""
    a = ATTRIBUTE.alias("a")
    before = a.c.changed_at < t if at_end else a.c.changed_at <= t
    return (
        select(a.c.value)
        .where(a.c.name == literal(name, String()), a.c.learner_id == learner_id, before)
        .order_by(a.c.changed_at.desc(), a.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def scope_at(t: datetime, group_by: str | None, *, everyone: bool) -> Subquery:
    """Learners in scope at ``t`` with their group (the attribute's value at ``t``; null when
    they had none, or when not grouping). ``everyone``: ``t`` is now, every learner exists."""
    when = moment("scope_at", t)
    if everyone:
        query: Select[Any] = select(LEARNER.c.id.label("learner_id"))
        learner_id = LEARNER.c.id
    else:
        since = learner_since()
        query = select(since.c.learner_id.label("learner_id")).where(since.c.since <= when)
        learner_id = since.c.learner_id
    if group_by is None:
        return query.add_columns(NO_GROUP.label("grp")).subquery("scope")
    return query.add_columns(value_at(learner_id, group_by, when).label("grp")).subquery("scope")


# --- credentials held ---------------------------------------------------------------------------


def status_at(t: BindParameter[datetime]) -> ColumnElement[str]:
    """A credential's status at ``t``: its current status when it has not changed since, else
    the last status event at or before ``t`` (none yet: it counts as active from valid_from,
    so back-dated credentials count for the past they cover)."""
    last_event = (
        select(STATUS_EVENT.c.status)
        .where(STATUS_EVENT.c.credential_id == CREDENTIAL.c.id, STATUS_EVENT.c.at <= t)
        .order_by(STATUS_EVENT.c.at.desc(), STATUS_EVENT.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return case(
        (
            or_(CREDENTIAL.c.status_changed_at.is_(None), CREDENTIAL.c.status_changed_at <= t),
            CREDENTIAL.c.status,
        ),
        else_=func.coalesce(last_event, literal("active", String())),
    )


def held_at(t: BindParameter[datetime]) -> ColumnElement[bool]:
    """The credential is *active* at ``t`` (:mod:`service.core.held`, in SQL: awarded by
    ``t``, not expired, not superseded, its status at ``t`` active). Its level is held when every
    one of the level's :func:`~service.core.held.requisites` has such a credential: see
    :func:`holds_each` and :func:`holds_level`."""
    c = CREDENTIAL.c
    return and_(
        c.valid_from <= t,
        or_(c.valid_until.is_(None), c.valid_until > t),
        or_(c.superseded_at.is_(None), c.superseded_at > t),
        status_at(t) == "active",
    )


def credentials_by_learner(t: datetime, level_ids: Sequence[str]) -> Subquery:
    """One row per learner with a credential from before ``t``; per level ``i`` (the order of
    ``level_ids``): ``e<i>`` ever awarded, ``h<i>`` a credential active at ``t`` (the level's
    own; :func:`holds_each` adds its prerequisites), ``o<i>`` an active one open-ended, ``u<i>``
    latest ``valid_until`` of the active ones, ``x<i>`` one expired un-revoked."""
    when = moment("credentials_at", t)
    c = CREDENTIAL.c
    held = held_at(when)
    expired = and_(c.valid_until <= when, status_at(when) != "revoked")
    columns: list[Any] = []
    for i, level in enumerate(level_ids):
        this = c.level_id == literal(level, String())
        columns += [
            func.max(case((this, 1), else_=0)).label(f"e{i}"),
            func.max(case((and_(this, held), 1), else_=0)).label(f"h{i}"),
            func.max(case((and_(this, held, c.valid_until.is_(None)), 1), else_=0)).label(f"o{i}"),
            func.max(case((and_(this, held), c.valid_until), else_=null())).label(f"u{i}"),
            func.max(case((and_(this, expired), 1), else_=0)).label(f"x{i}"),
        ]
    return (
        select(c.learner_id, *columns)
        .where(c.valid_from <= when, c.level_id.in_(list(level_ids)))
        .group_by(c.learner_id)
        .subquery("creds")
    )


def holds_each(creds: Subquery, chain: Sequence[int]) -> ColumnElement[bool]:
    """The learner holds a level at the time of ``creds`` (:func:`credentials_by_learner`):
    every level of its ``chain`` — the column indexes of its
    :func:`~service.core.held.requisites`, itself first — has an active credential."""
    return and_(*(creds.c[f"h{j}"] == 1 for j in chain))


def lapses_by(
    creds: Subquery, chain: Sequence[int], bound: ColumnElement[Any]
) -> ColumnElement[bool]:
    """A level held (see :func:`holds_each`) stops counting by ``bound``: some level of its
    ``chain`` has only active credentials that expire by then (the permission check's
    ``valid_until``: the first lapse along the level and its prerequisites)."""
    return or_(*(and_(creds.c[f"o{j}"] == 0, creds.c[f"u{j}"] <= bound) for j in chain))


def progress_by_learner(
    t: datetime | None, requirements: dict[str, list[tuple[str, float | None]]]
) -> Subquery:
    """One row per learner with a passed completion (by ``t``; None: all of them, every
    completion being dated in the past); ``p<i>`` = 1 when one counts toward level ``i``
    (the order of ``requirements``): a course it requires or offers, scored enough."""
    co = COMPLETION.c
    flags = []
    for i, level in enumerate(requirements):
        counting = [
            and_(co.course_id == course, co.score >= min_score)
            if min_score is not None
            else co.course_id == course
            for course, min_score in requirements[level]
        ]
        flags.append(func.max(case((or_(false(), *counting), 1), else_=0)).label(f"p{i}"))
    query = select(co.learner_id, *flags).where(co.passed.is_(True))
    if t is not None:
        query = query.where(co.completed_at <= moment("progress_at", t))
    return query.group_by(co.learner_id).subquery("progress")


def certification_table(
    scope: Subquery,
    t: datetime,
    level_ids: Sequence[str],
    requirements: dict[str, list[tuple[str, float | None]]],
    horizons: Sequence[datetime],
    *,
    past: bool,
    prerequisites: Mapping[str, tuple[str, ...]],
) -> Select[Any]:
    """Per group, in one statement: ``learners``, and per level ``i``: ``holders<i>`` (holding
    it at ``t``, its prerequisites too: :mod:`service.core.held`), ``exp<k>_<i>`` (holders
    whose level stops counting by horizon ``k``), ``expired<i>`` (expired, not renewed) and
    ``progress<i>`` (never awarded, with a counting completion). Scope, credentials and
    completions are each read once."""
    chains = {level: requisites((level,), prerequisites) for level in level_ids}
    read = list(dict.fromkeys(lv for chain in chains.values() for lv in chain))
    index = {level: j for j, level in enumerate(read)}
    creds = credentials_by_learner(t, read)
    progress = progress_by_learner(t if past else None, requirements)
    bounds = [moment(f"horizon{k}", h) for k, h in enumerate(horizons)]
    columns: list[Any] = [func.count().label("learners")]
    for i, level in enumerate(level_ids):
        chain = [index[lv] for lv in chains[level]]
        held = holds_each(creds, chain)
        columns.append(func.sum(case((held, 1), else_=0)).label(f"holders{i}"))
        columns += [
            func.sum(case((and_(held, lapses_by(creds, chain, bound)), 1), else_=0)).label(
                f"exp{k}_{i}"
            )
            for k, bound in enumerate(bounds)
        ]
        own = index[level]
        columns.append(
            func.sum(case((and_(~held, creds.c[f"x{own}"] == 1), 1), else_=0)).label(f"expired{i}")
        )
        if level in requirements:
            p = list(requirements).index(level)
            never = or_(creds.c[f"e{own}"].is_(None), creds.c[f"e{own}"] == 0)
            columns.append(
                func.sum(case((and_(progress.c[f"p{p}"] == 1, never), 1), else_=0)).label(
                    f"progress{i}"
                )
            )
        else:
            columns.append(literal(0, Integer()).label(f"progress{i}"))
    return (
        select(scope.c.grp, *columns)
        .select_from(
            scope.outerjoin(creds, creds.c.learner_id == scope.c.learner_id).outerjoin(
                progress, progress.c.learner_id == scope.c.learner_id
            )
        )
        .group_by(scope.c.grp)
    )


def group_sizes(scope: Subquery) -> Select[Any]:
    return select(scope.c.grp, func.count().label("learners")).group_by(scope.c.grp)


# --- completion rate per month ------------------------------------------------------------------


def month_table(bounds: Sequence[tuple[datetime, datetime]]) -> Subquery:
    """A literal table ``(idx, start, end)`` of month bounds, ``[start, end)``."""
    rows = [
        select(
            literal(i, Integer()).label("idx"),
            moment(f"m{i}_start", start).label("start"),
            moment(f"m{i}_end", end).label("end"),
        )
        for i, (start, end) in enumerate(bounds)
    ]
    if len(rows) == 1:
        return rows[0].subquery("months")
    return union_all(*rows).subquery("months")


def monthly_scope(bounds: Sequence[tuple[datetime, datetime]]) -> Select[Any]:
    """Learners in scope at each month's end (known before it): one pass over the learners, a
    column per month (``m<i>``)."""
    since = learner_since()
    columns = [
        func.sum(case((since.c.since < moment(f"end{i}", end), 1), else_=0)).label(f"m{i}")
        for i, (_, end) in enumerate(bounds)
    ]
    return select(*columns).select_from(since)


def monthly_groups(bounds: Sequence[tuple[datetime, datetime]], group_by: str) -> Select[Any]:
    """Per month (``idx``) and value (``grp``): learners whose attribute had that value at the
    month's end (``n``). Such a learner is in scope then (the change came after they were
    known); those in scope without a value are the rest of :func:`monthly_scope`."""
    months = month_table(bounds)
    interval = attribute_intervals(group_by)
    return (
        select(months.c.idx, interval.c.value.label("grp"), func.count().label("n"))
        .select_from(interval.join(months, covers(interval, months.c.end, at_end=True)))
        .group_by(months.c.idx, interval.c.value)
    )


def monthly_completions(months: Subquery, group_by: str | None) -> Select[Any]:
    """Per month and group (the learner's group at the month's end): passed completions and
    distinct learners completing."""
    co = COMPLETION.c
    per_learner = (
        select(
            months.c.idx,
            months.c.end,
            co.learner_id,
            func.count().label("completions"),
        )
        .select_from(
            COMPLETION.join(
                months, and_(co.completed_at >= months.c.start, co.completed_at < months.c.end)
            )
        )
        .where(co.passed.is_(True))
        .group_by(months.c.idx, months.c.end, co.learner_id)
        .subquery("per_learner")
    )
    totals = (func.sum(per_learner.c.completions).label("completions"), func.count().label("n"))
    if group_by is None:
        return select(per_learner.c.idx, NO_GROUP.label("grp"), *totals).group_by(per_learner.c.idx)
    grouped = select(
        per_learner.c.idx,
        per_learner.c.completions,
        value_at(per_learner.c.learner_id, group_by, per_learner.c.end, at_end=True).label("grp"),
    ).subquery("grouped")
    return select(
        grouped.c.idx,
        grouped.c.grp,
        func.sum(grouped.c.completions).label("completions"),
        func.count().label("n"),
    ).group_by(grouped.c.idx, grouped.c.grp)


# --- compliance ---------------------------------------------------------------------------------


def active_roles() -> Select[Any]:
    return (
        select(ROLE.c.id, ROLE.c.mandatory).where(ROLE.c.archived_at.is_(None)).order_by(ROLE.c.id)
    )


def holds_level(
    learner_id: ColumnElement[Any], chain: Sequence[str], t: BindParameter[datetime]
) -> ColumnElement[bool]:
    """The learner holds the level whose :func:`~service.core.held.requisites` are
    ``chain`` at ``t``: each has a credential active then (one probe per level)."""
    return and_(
        *(
            exists().where(
                CREDENTIAL.c.learner_id == learner_id,
                CREDENTIAL.c.level_id == literal(level, String()),
                held_at(t),
            )
            for level in chain
        )
    )


def role_holders(now: datetime, role: str, chain: Sequence[str], group_by: str | None) -> Subquery:
    """Learners whose ``role`` is ``role`` now: since when, their group now, and whether they
    hold the level whose requisites are ``chain`` (the level first) now."""
    when = moment("now", now)
    roles = attribute_intervals("role")
    holds = holds_level(roles.c.learner_id, chain, when)
    query = select(
        roles.c.learner_id,
        roles.c.start.label("role_since"),
        case((holds, 1), else_=0).label("holds"),
    ).where(roles.c.value == literal(role, String()), covers(roles, when))
    if group_by is None:
        return query.add_columns(NO_GROUP.label("grp")).subquery("holders")
    group = value_at(roles.c.learner_id, group_by, when)
    return query.add_columns(group.label("grp")).subquery("holders")


def mandate_totals(holders: Subquery, cutoff: datetime) -> Select[Any]:
    """Per group: learners with the role, compliant, due (role since after ``cutoff``) and
    overdue (role since on or before it)."""
    late = holders.c.role_since <= moment("cutoff", cutoff)
    return select(
        holders.c.grp,
        func.count().label("learners"),
        func.sum(holders.c.holds).label("compliant"),
        func.sum(case((and_(holders.c.holds == 0, ~late), 1), else_=0)).label("due"),
        func.sum(case((and_(holders.c.holds == 0, late), 1), else_=0)).label("overdue"),
    ).group_by(holders.c.grp)


def overdue_rows(holders: Subquery, role: str, level: str, cutoff: datetime) -> Select[Any]:
    """The overdue learners of one mandate, as rows of the paginated overdue list."""
    return (
        select(
            literal(role, String()).label("role"),
            literal(level, String()).label("level"),
            holders.c.role_since,
            holders.c.learner_id,
            holders.c.grp,
        )
        .select_from(holders)
        .where(holders.c.holds == 0, holders.c.role_since <= moment("cutoff", cutoff))
    )


def learner_names(ids: Sequence[str]) -> Select[Any]:
    return select(LEARNER.c.id, LEARNER.c.name).where(LEARNER.c.id.in_(list(ids)))


# --- funnel -------------------------------------------------------------------------------------


def reached_counts(level_ids: Sequence[str], now: datetime) -> Select[Any]:
    """Per level: learners ever awarded it (revoked credentials do not count). Deliberately not
    "held": the funnel counts who *reached* a rank, whatever has lapsed since."""
    c = CREDENTIAL.c
    return (
        select(c.level_id, func.count(distinct(c.learner_id)).label("reached"))
        .where(
            c.level_id.in_(list(level_ids)),
            c.valid_from <= moment("now", now),
            c.status != "revoked",
        )
        .group_by(c.level_id)
    )


def learner_count() -> Select[Any]:
    return select(func.count()).select_from(LEARNER)
