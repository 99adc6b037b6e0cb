"""Reports: parameters checked, SQL aggregates (see :mod:`.repository`) assembled into shapes.

Python only touches aggregated rows (groups x levels x months), never per-learner rows, except
the one page of the overdue list it is asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import tuple_, union_all
from sqlmodel import Session

from service.core.durations import Duration, DurationError
from service.core.held import requisites
from service.core.ids import ATTRIBUTE_NAME
from service.core.pagination import CursorText, CursorTime, Page, decode_cursor, encode_cursor
from service.db import utcnow
from service.errors import InvalidInput, NotFound
from service.issuance.compiled import CompiledCatalog, LevelInfo
from service.reports import repository as sql
from service.reports.schemas import (
    CertificationGroup,
    CertificationReport,
    CompletionRateGroup,
    CompletionRateReport,
    ComplianceCounts,
    ComplianceGroup,
    ComplianceReport,
    FunnelReport,
    FunnelStep,
    LevelCertification,
    LevelRef,
    MandateCompliance,
    MonthRate,
    OverdueLearner,
    OverdueReport,
)

EXPIRY_HORIZONS = (30, 60, 90)
MAX_MONTHS = 60
FUTURE_SKEW = timedelta(minutes=5)
# An overdue list's position: (role, level, role since, learner id)
_OVERDUE_POSITION: TypeAdapter[tuple[str, str, datetime, str]] = TypeAdapter(
    tuple[CursorText, CursorText, CursorTime, CursorText]
)


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def check_group_by(group_by: str | None) -> str | None:
    """``None``/``all`` mean one group; otherwise a learner attribute name."""
    if group_by is None or group_by == "all":
        return None
    if not ATTRIBUTE_NAME.match(group_by):
        raise InvalidInput(f"group_by {group_by!r} is not an attribute name (or 'all').")
    return group_by


def _group_key(value: Any, group_by: str | None) -> str | None:
    return "all" if group_by is None else value


def _ordered_groups(keys: Iterable[str | None]) -> list[str | None]:
    """Named groups alphabetically, learners without the attribute last."""
    keys = list(keys)
    ordered: list[str | None] = [*sorted({k for k in keys if k is not None})]
    if None in keys:
        ordered.append(None)
    return ordered


def _track_levels(compiled: CompiledCatalog, track: str | None) -> list[LevelInfo]:
    levels = [lv for lv in compiled.levels.values() if not lv.archived]
    if track is not None:
        levels = [lv for lv in levels if lv.track == track]
        if not levels:
            raise NotFound(f"No track {track!r} with active levels.")
    return sorted(levels, key=lambda lv: (lv.track, lv.rank, lv.id))


def _level_ref(level: LevelInfo) -> LevelRef:
    return LevelRef(id=level.id, name=level.name, track=level.track, rank=level.rank)


# --- certification ------------------------------------------------------------------------------


def certification(
    session: Session,
    compiled: CompiledCatalog,
    *,
    group_by: str | None,
    track: str | None,
    at: datetime | None,
) -> CertificationReport:
    """Per group: learners in scope, holders of each level (held as permission decisions hold
    it: :mod:`service.core.held`), expiring, expired, in progress."""
    group_by = check_group_by(group_by)
    now = utcnow()
    if at is not None and at.tzinfo is None:
        raise InvalidInput("at needs a time zone (e.g. 2026-03-01T00:00:00Z)")
    if at is not None and at > now + FUTURE_SKEW:
        raise InvalidInput("at is in the future")
    t = at.astimezone(UTC) if at is not None else now
    levels = _track_levels(compiled, track)
    level_ids = [lv.id for lv in levels]
    scope = sql.scope_at(t, group_by, everyone=at is None)
    requirements = {
        lv.id: courses
        for lv in levels
        if lv.id in compiled.rules and (courses := _counting_courses(compiled, lv.id))
    }
    horizons = [t + timedelta(days=d) for d in EXPIRY_HORIZONS]
    rows = {}
    if level_ids:
        query = sql.certification_table(
            scope,
            t,
            level_ids,
            requirements,
            horizons,
            past=at is not None,
            prerequisites=compiled.prerequisites,
        )
        rows = {row.grp: row._mapping for row in session.execute(query)}
    else:
        rows = {row.grp: row._mapping for row in session.execute(sql.group_sizes(scope))}

    def count(row: Any, name: str) -> int:
        return int(row[name] or 0)

    groups = []
    for grp in _ordered_groups(rows):
        row = rows[grp]
        learners = count(row, "learners")
        certified = [
            LevelCertification(
                level=level_id,
                holders=count(row, f"holders{i}"),
                share=share(count(row, f"holders{i}"), learners),
                expiring_30=count(row, f"exp0_{i}"),
                expiring_60=count(row, f"exp1_{i}"),
                expiring_90=count(row, f"exp2_{i}"),
                expired_not_renewed=count(row, f"expired{i}"),
                in_progress=count(row, f"progress{i}"),
            )
            for i, level_id in enumerate(level_ids)
        ]
        groups.append(
            CertificationGroup(group=_group_key(grp, group_by), learners=learners, levels=certified)
        )
    return CertificationReport(
        computed_at=utcnow(),
        at=t,
        group_by=group_by,
        track=track,
        levels=[_level_ref(lv) for lv in levels],
        groups=groups,
    )


def _counting_courses(compiled: CompiledCatalog, level_id: str) -> list[tuple[str, float | None]]:
    rule = compiled.rules[level_id]
    courses = {req.course: req.min_score for req in rule.courses}
    for course in rule.electives_from:
        courses.setdefault(course, None)
    return sorted(courses.items())


# --- completion rate ----------------------------------------------------------------------------


def month_bounds(now: datetime, months: int) -> list[tuple[datetime, datetime]]:
    """The last ``months`` calendar months (UTC) up to and including the current one."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    bounds = []
    for _ in range(months):
        end = (start + timedelta(days=32)).replace(day=1)
        bounds.append((start, end))
        start = (start - timedelta(days=1)).replace(day=1)
    return bounds[::-1]


def completion_rate(
    session: Session, *, months: int, group_by: str | None, now: datetime | None = None
) -> CompletionRateReport:
    """Per calendar month: completions, learners completing, learners in scope, their ratio."""
    group_by = check_group_by(group_by)
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"months must be between 1 and {MAX_MONTHS}")
    bounds = month_bounds(now or utcnow(), months)
    table = sql.month_table(bounds)
    scope: dict[tuple[int, str | None], int] = {}
    totals = session.execute(sql.monthly_scope(bounds)).one()._mapping
    for idx in range(len(bounds)):
        scope[(idx, None)] = int(totals[f"m{idx}"] or 0)
    if group_by is not None:
        for row in session.execute(sql.monthly_groups(bounds, group_by)):
            scope[(row.idx, row.grp)] = row.n
            scope[(row.idx, None)] -= row.n  # the rest have no value
    done: dict[tuple[int, str | None], tuple[int, int]] = {}
    for row in session.execute(sql.monthly_completions(table, group_by)):
        done[(row.idx, row.grp)] = (int(row.completions), int(row.n))
    present = [g for (_, g), n in scope.items() if n] + [g for _, g in done]
    keys = _ordered_groups(present)
    if group_by is None:
        keys = [None]
    groups = []
    for grp in keys:
        series = []
        for idx, (start, end) in enumerate(bounds):
            completions, completing = done.get((idx, grp), (0, 0))
            in_scope = scope.get((idx, grp), 0)
            series.append(
                MonthRate(
                    month=start.strftime("%Y-%m"),
                    start=start,
                    end=end,
                    completions=completions,
                    learners_completing=completing,
                    learners_in_scope=in_scope,
                    rate=share(completing, in_scope),
                )
            )
        groups.append(CompletionRateGroup(group=_group_key(grp, group_by), months=series))
    return CompletionRateReport(
        computed_at=utcnow(), group_by=group_by, months=months, groups=groups
    )


# --- compliance ---------------------------------------------------------------------------------


def _chain(compiled: CompiledCatalog, level: str) -> tuple[str, ...]:
    """What holding ``level`` takes: the level and its prerequisites, transitively."""
    return requisites((level,), compiled.prerequisites)


def _mandates(session: Session, role: str | None) -> list[tuple[str, str, Duration]]:
    rows = list(session.execute(sql.active_roles()))
    if role is not None:
        rows = [r for r in rows if r.id == role]
        if not rows:
            raise NotFound(f"No role {role!r} in the catalog.")
    mandates = []
    for row in rows:
        for mandate in row.mandatory or []:
            try:
                within = Duration.parse(mandate["within"])
            except (KeyError, DurationError):
                continue  # the catalog validates mandates; an unreadable one is not reported
            mandates.append((row.id, mandate["level"], within))
    return mandates


def _overdue_query(
    compiled: CompiledCatalog,
    mandates: list[tuple[str, str, Duration]],
    now: datetime,
    group_by: str | None,
) -> Any:
    parts = [
        sql.overdue_rows(
            sql.role_holders(now, role, _chain(compiled, level), group_by),
            role,
            level,
            within.subtract_from(now),
        )
        for role, level, within in mandates
    ]
    return (union_all(*parts) if len(parts) > 1 else parts[0]).subquery("overdue")


def overdue_page(
    session: Session,
    compiled: CompiledCatalog,
    *,
    role: str | None,
    group_by: str | None,
    cursor: str | None,
    limit: int | None,
    now: datetime | None = None,
) -> tuple[list[OverdueLearner], str | None]:
    """Overdue learners ordered by role, level, role_since, learner; ``limit`` None: all."""
    group_by = check_group_by(group_by)
    now = now or utcnow()
    after = decode_cursor(cursor, _OVERDUE_POSITION)
    mandates = _mandates(session, role)
    if not mandates:
        return [], None
    within = {(r, lv): d for r, lv, d in mandates}
    overdue = _overdue_query(compiled, mandates, now, group_by)
    order = (overdue.c.role, overdue.c.level, overdue.c.role_since, overdue.c.learner_id)
    query = overdue.select().order_by(*order)
    if after is not None:
        bound = (after[0], after[1], sql.moment("after", after[2]), after[3])
        query = query.where(tuple_(*order) > tuple_(*bound))
    if limit is not None:
        query = query.limit(limit)
    rows = list(session.execute(query))
    names = (
        {row[0]: row[1] for row in session.execute(sql.learner_names([r.learner_id for r in rows]))}
        if rows
        else {}
    )
    items = [
        OverdueLearner(
            learner_id=r.learner_id,
            name=names.get(r.learner_id),
            group=_group_key(r.grp, group_by),
            role=r.role,
            level=r.level,
            role_since=r.role_since,
            overdue_since=within[(r.role, r.level)].add_to(r.role_since),
        )
        for r in rows
    ]
    next_cursor = None
    if limit is not None and len(rows) == limit:
        last = rows[-1]
        next_cursor = encode_cursor(
            [last.role, last.level, last.role_since.isoformat(), last.learner_id]
        )
    return items, next_cursor


def compliance(
    session: Session,
    compiled: CompiledCatalog,
    *,
    role: str | None,
    group_by: str | None,
    cursor: str | None = None,
    limit: int = 50,
) -> ComplianceReport:
    """Each role mandate: learners with the role now, compliant (holding the level, as
    permission decisions hold it) / due / overdue per group."""
    group_by = check_group_by(group_by)
    now = utcnow()
    results = []
    overall: defaultdict[str, int] = defaultdict(int)
    for role_id, level, within in _mandates(session, role):
        holders = sql.role_holders(now, role_id, _chain(compiled, level), group_by)
        per_group = {
            row.grp: row
            for row in session.execute(sql.mandate_totals(holders, within.subtract_from(now)))
        }
        groups = [
            ComplianceGroup(
                group=_group_key(grp, group_by),
                learners=int(per_group[grp].learners),
                compliant=int(per_group[grp].compliant or 0),
                due=int(per_group[grp].due or 0),
                overdue=int(per_group[grp].overdue or 0),
            )
            for grp in _ordered_groups(per_group)
        ]
        totals = ComplianceCounts(
            learners=sum(g.learners for g in groups),
            compliant=sum(g.compliant for g in groups),
            due=sum(g.due for g in groups),
            overdue=sum(g.overdue for g in groups),
        )
        for name, value in totals.model_dump().items():
            overall[name] += value
        results.append(
            MandateCompliance(
                role=role_id, level=level, within=within.text, totals=totals, groups=groups
            )
        )
    items, next_cursor = overdue_page(
        session, compiled, role=role, group_by=group_by, cursor=cursor, limit=limit, now=now
    )
    return ComplianceReport(
        computed_at=utcnow(),
        role=role,
        group_by=group_by,
        totals=ComplianceCounts(
            learners=overall["learners"],
            compliant=overall["compliant"],
            due=overall["due"],
            overdue=overall["overdue"],
        ),
        mandates=results,
        overdue=Page[OverdueLearner](items=items, next_cursor=next_cursor),
    )


def overdue(
    session: Session,
    compiled: CompiledCatalog,
    *,
    role: str | None,
    group_by: str | None,
    cursor: str | None,
    limit: int | None,
) -> OverdueReport:
    """The overdue list alone (``limit`` None: every overdue learner, for CSV exports)."""
    items, next_cursor = overdue_page(
        session, compiled, role=role, group_by=group_by, cursor=cursor, limit=limit
    )
    return OverdueReport(
        computed_at=utcnow(),
        role=role,
        group_by=check_group_by(group_by),
        items=items,
        next_cursor=next_cursor,
    )


# --- funnel -------------------------------------------------------------------------------------


def funnel(session: Session, compiled: CompiledCatalog, *, track: str) -> FunnelReport:
    """Learners reaching each rank of ``track`` (ever awarded it: deliberately not "held") and
    the conversion between consecutive ranks."""
    levels = _track_levels(compiled, track)
    now = utcnow()
    reached = {
        row[0]: row[1] for row in session.execute(sql.reached_counts([lv.id for lv in levels], now))
    }
    learners = int(session.execute(sql.learner_count()).scalar_one())
    steps = []
    previous = learners
    for level in levels:
        count = int(reached.get(level.id, 0))
        steps.append(
            FunnelStep(
                level=level.id,
                name=level.name,
                rank=level.rank,
                reached=count,
                conversion=share(count, previous),
            )
        )
        previous = count
    return FunnelReport(computed_at=utcnow(), track=track, learners=learners, steps=steps)
