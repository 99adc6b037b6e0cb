"""What a process remembers between permission checks: each learner's facts, parsed once.

A :class:`LearnerFacts` is one learner's credentials, attribute history and completions at one
*facts revision* (``learner.facts_revision``, bumped by database triggers whenever any of them
change), turned into the engine's inputs. The :class:`FactsCache` keeps them per learner for one
catalog revision; the service reads every learner's current facts revision per request (in the
statement that authenticates the caller) and uses an entry only when it matches, so nothing
stale is ever answered from memory.

Within an entry, the levels held and the attributes in force are the same for every moment
between two consecutive *breakpoints* — the times at which a credential starts, ends, is
revoked, superseded, suspended or reinstated, or an attribute changes — because the engine only
ever compares the moment asked about with those times. So the entry keeps the holdings of the
last interval asked about, with each program kind's decision in it: a repeated check costs a
comparison and a dictionary lookup. What a denial lists as missing depends on the earning rules'
own windows and is worked out per check.
"""

from __future__ import annotations

import json
import logging
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from sys import intern
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from service.catalog.expressions import Expr
from service.issuance.engine import (
    CompletionFact,
    CredentialFact,
    LevelRule,
    Missing,
    evaluate_level,
    facts_matter,
)
from service.issuance.history import CredentialHistory, facts_at, status_times
from service.learners.service import attributes_at
from service.permissions.engine import (
    Decision,
    HeldCredential,
    Holdings,
    MissingCourse,
    MissingFor,
    MissingLevel,
    held_levels,
    missing_levels,
    outcome,
)
from service.permissions.repository import CredentialRow, FactsRows, LearnerRows, SummaryRow

EarningFacts = tuple[list[CompletionFact], list[CredentialFact]]

log = logging.getLogger("credence.permissions")

#: An :data:`~service.permissions.engine.Outcome` kept: its lists as tuples.
KeptOutcome = tuple[bool, tuple[str, ...], tuple[str, ...], datetime | None, tuple[str, ...]]


class Standing(NamedTuple):
    """The learner's holdings and attributes for moments in ``[start, end)`` (``None``:
    unbounded), the decisions' outcomes already worked out in it per program kind (see
    :meth:`outcome`), and what levels still need where that holds for the interval (see
    :meth:`missing_for`)."""

    start: datetime | None
    end: datetime | None
    holdings: Holdings
    attributes: dict[str, str]
    decisions: dict[str, KeptOutcome]
    missing: dict[str, tuple[Any, ...] | None]

    def outcome(self, program: str, expr: Expr) -> KeptOutcome:
        """:func:`~service.permissions.engine.outcome` for ``expr`` in this interval, worked
        out once per program kind and kept as plain tuples (which the garbage collector stops
        tracking)."""
        kept = self.decisions.get(program)
        if kept is None:
            allowed, reasons, granted, until, missing = outcome(
                expr, self.holdings, self.attributes
            )
            kept = (allowed, tuple(reasons), tuple(granted), until, tuple(missing))
            self.decisions[program] = kept
        return kept

    def decision(self, program: str, expr: Expr, missing_for: MissingFor | None = None) -> Decision:
        """:func:`~service.permissions.engine.decide` for ``expr`` in this interval (its outcome
        kept: see :meth:`outcome`)."""
        allowed, reasons, granted, until, missing = self.outcome(program, expr)
        if allowed:
            return Decision(True, list(reasons), list(granted), until, [])
        return Decision(
            False, list(reasons), [], None, missing_levels(missing, self.holdings, missing_for)
        )

    def missing_for(
        self,
        rule: LevelRule,
        facts: LearnerFacts,
        at: datetime,
        earning_facts: Callable[[], EarningFacts] | None = None,
        not_started: NotStarted | None = None,
    ) -> MissingLevel | None:
        """What ``rule``'s level still needs at ``at``, from the earning engine over the facts
        as they stood at ``at`` (:func:`service.issuance.history.facts_at`).

        Kept for the interval unless the level has a recency rule (whose window slides with
        ``at``): otherwise those facts change only at breakpoints (completion times, awards,
        status changes, supersessions), and the engine compares ``at`` only with completion
        times, credentials' ``valid_from``/``valid_until``, and the renewal window's opening and
        close, which :class:`LearnerFacts` adds to its breakpoints for the rules it was made
        with. ``earning_facts``, when given, returns ``facts.earning_facts(at)`` made once for
        all the levels one check lists.

        The prerequisites it lists as not held are those this interval's holdings do not hold:
        the decision's own view, which the earning engine's agrees with over facts the database
        can hold (``tests/issuance/test_held_agreement.py``).

        A level the learner never started (see :func:`facts_matter`) is answered from the rule
        and the prerequisites not held alone, whoever asks and whenever: ``not_started``, when
        given, keeps those answers for every learner (:class:`NotStarted`).
        """
        keep = rule.recency is None and facts.rules.get(rule.level_id) is rule
        if keep:
            kept = self.missing.get(rule.level_id, _NOT_KEPT)
            if kept is not _NOT_KEPT:
                return _missing_level(kept) if kept is not None else None
        holdings = self.holdings
        if facts_matter(rule, facts.touched):
            completions, credentials = (
                earning_facts() if earning_facts is not None else facts.earning_facts(at)
            )
            flat = _flat_missing(
                rule,
                evaluate_level(
                    rule, completions, credentials, at, holdings.prerequisites, holdings.held
                ).missing,
            )
        elif not_started is not None:
            flat = not_started.missing(rule, holdings)
        else:
            flat = not_started_missing(rule, holdings)
        if keep:
            self.missing[rule.level_id] = flat
        return _missing_level(flat) if flat is not None else None


class NotStarted:
    """What a level the learner never started still needs (:func:`not_started_missing`), kept
    per rule and prerequisites not held: the same for every learner, at every moment. One per
    catalog revision; a denial's missing list asks it for about a third of the levels it
    lists, on every uncached permission check."""

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        # (level id, prerequisites not held) -> (the rule, its answer): used only for that
        # very rule object, so a rule of another revision is never answered from here.
        self._kept: dict[tuple[str, tuple[str, ...]], tuple[LevelRule, tuple[Any, ...] | None]]
        self._kept = {}

    def missing(self, rule: LevelRule, holdings: Holdings) -> tuple[Any, ...] | None:
        held = holdings.held
        not_held: list[str] = []
        for prerequisite in rule.prerequisites:
            if prerequisite not in held:
                not_held.append(prerequisite)
        key = (rule.level_id, tuple(not_held))
        kept = self._kept.get(key)
        if kept is not None and kept[0] is rule:
            return kept[1]
        flat = not_started_missing(rule, holdings)
        self._kept[key] = (rule, flat)
        return flat


def not_started_missing(rule: LevelRule, holdings: Holdings) -> tuple[Any, ...] | None:
    """What ``rule``'s level still needs for a learner who never started it (nor held it:
    :func:`facts_matter` is false), flat (see :func:`_flat_missing`): the earning engine over no
    facts, which depends on nothing but the rule and which of its prerequisites ``holdings``
    does not hold (no completion counts, so neither ``at`` nor a recency window matters)."""
    found = evaluate_level(rule, (), (), holdings.at, holdings.prerequisites, holdings.held)
    return _flat_missing(rule, found.missing)


def _flat_missing(rule: LevelRule, found: Missing | None) -> tuple[Any, ...] | None:
    """``missing_level_from(found, rule.name)`` as nested plain tuples, to keep (built into a
    :class:`MissingLevel` by :func:`_missing_level`); loops, not comprehensions (each a function
    call in Python 3.11)."""
    if found is None:
        return None
    courses: list[tuple[str, float | None]] = []
    for course in found.courses:
        courses.append((course.course, course.min_score))
    return (
        found.level_id,
        rule.name,
        tuple(courses),
        found.electives_needed,
        found.electives_from,
        found.levels,
    )


_NOT_KEPT: Any = object()
# A ``learner_facts`` text's separators (see :mod:`service.permissions.repository`): between
# its parts, between the fields of a part, and first in an attribute value written as JSON.
_PART, _FIELD, _QUOTED = "\x1d", "\x1f", "\x1c"
_moment = datetime.fromisoformat  # a facts text's moments are written for it, in UTC


def _attribute_value(written: str) -> str | None:
    """An attribute value as a facts text writes it: empty for NULL, or ``_QUOTED`` and its
    JSON string for a value that is empty or holds a separator."""
    if not written:
        return None
    value: str = json.loads(written[1:])
    return value


_NO_RULES: Mapping[str, LevelRule] = {}
_TICK = timedelta(microseconds=1)  # the next moment a datetime can name


def _missing_level(flat: tuple[Any, ...]) -> MissingLevel:
    """The :class:`MissingLevel` kept flat, as nested plain tuples (untracked by the garbage
    collector), by :meth:`Standing.missing_for`."""
    level, name, courses, *rest = flat
    new = tuple.__new__  # what ``_make`` does, without its Python frame
    made: list[MissingCourse] = []
    for course in courses:
        made.append(new(MissingCourse, course))
    return new(MissingLevel, (level, name, tuple(made), *rest))


class LearnerFacts:
    """One learner's facts at one facts revision, as the engine's inputs.

    Stored as plain tuples of immutable values, which CPython's garbage collector stops tracking
    (named tuples and dataclasses it tracks forever): tens of thousands of cached learners must
    not make every full collection walk them all, which showed as 50-150 ms pauses in the
    permission check's tail latency. The engine's types are made from them when needed.
    """

    __slots__ = (
        "_breakpoints",
        "_completions",
        "_credentials",
        "_history",
        "_settled",
        "_standing",
        "_superseded_by",
        "_touched",
        "revision",
        "rules",
    )

    def __init__(
        self,
        rows: LearnerRows,
        level_names: Mapping[str, str],
        rules: Mapping[str, LevelRule] = _NO_RULES,
    ) -> None:
        self.revision = rows.revision
        self.rules = rules
        # Each credential as a HeldCredential's fields, in one pass (every check of an
        # uncached learner makes these: the cold path), unpacked, not read field by field.
        credentials: list[tuple[Any, ...]] = []
        superseded: list[str | None] = []
        for row in rows.credentials.values():
            (
                credential_id,
                level_id,
                valid_from,
                valid_until,
                status,
                status_changed_at,
                superseded_by,
                superseded_at,
                events,
            ) = row
            credentials.append(
                _held_fields(
                    credential_id,
                    level_id,
                    level_names.get(level_id, level_id),
                    valid_from,
                    valid_until,
                    status,
                    status_changed_at,
                    superseded_at,
                    events,
                )
            )
            superseded.append(superseded_by)
        self._credentials = tuple(credentials)
        # Its successor's id per credential: with ``_credentials``, a CredentialHistory's
        # fields (made only when a denial's earning facts need them).
        self._superseded_by = tuple(superseded)
        attributes = rows.attributes
        if len(attributes) > 1:
            attributes = sorted(attributes, key=_CHANGE_ORDER)
        self._history = tuple(
            [
                (changed_at, change_id, name, value)
                for name, value, changed_at, change_id in attributes
            ]
        )
        self._completions = tuple(
            [
                (completion_id, course, completed_at, score, passed)
                for completion_id, course, completed_at, score, passed in rows.completions
            ]
        )
        self._breakpoints: tuple[datetime, ...] | None = None
        self._touched: frozenset[str] | None = None
        self._settled: tuple[datetime | None, tuple[tuple[Any, ...], ...]] | None = None
        self._standing: Standing | None = None

    @classmethod
    def from_summary(
        cls,
        row: SummaryRow,
        level_names: Mapping[str, str],
        rules: Mapping[str, LevelRule] = _NO_RULES,
    ) -> LearnerFacts:
        """The entry made straight from a learner's ``learner_facts`` text (its layout in
        :mod:`service.permissions.repository`): what ``LearnerFacts(rows)`` makes of the same
        facts as :class:`LearnerRows`, in the same order, without making those rows first
        (``tests/permissions/test_facts_summary.py``).

        Each part is split into its fields in one call, and a record is taken as that many
        fields at a time (``zip`` over one iterator, strict: a part whose fields are not a
        whole number of records raises): a credential is eight, the rest four or five. An
        empty field is NULL."""
        credentials_part, events_part, attributes_part, completions_part = row.facts.split(_PART)
        self = cls.__new__(cls)
        self.revision = row.revision
        self.rules = rules
        moment = _moment
        # The status events a check uses, per credential (the few whose status changed).
        events: dict[str, list[tuple[datetime, int, str]]] = {}
        if events_part:
            fields = iter(events_part.split(_FIELD))
            for credential_id, status, at, event_id in zip(
                fields, fields, fields, fields, strict=True
            ):
                found = events.get(credential_id)
                event = (moment(at), int(event_id), status)
                if found is None:
                    events[credential_id] = [event]
                else:
                    found.append(event)
        credentials: list[tuple[Any, ...]] = []
        superseded: list[str | None] = []
        if credentials_part:
            fields = iter(credentials_part.split(_FIELD))
            for (
                credential_id,
                level_id,
                status,
                superseded_by,
                valid_from,
                valid_until,
                status_changed_at,
                superseded_at,
            ) in zip(fields, fields, fields, fields, fields, fields, fields, fields, strict=True):
                credentials.append(
                    _held_fields(
                        credential_id,
                        level_id,
                        level_names.get(level_id, level_id),
                        moment(valid_from),
                        moment(valid_until) if valid_until else None,
                        status,
                        moment(status_changed_at) if status_changed_at else None,
                        moment(superseded_at) if superseded_at else None,
                        events.get(credential_id),
                    )
                )
                superseded.append(superseded_by or None)
        self._credentials = tuple(credentials)
        self._superseded_by = tuple(superseded)
        history: list[tuple[Any, ...]] = []
        if attributes_part:
            fields = iter(attributes_part.split(_FIELD))
            for name, written, changed_at, change_id in zip(
                fields, fields, fields, fields, strict=True
            ):
                value: str | None = written
                if not written or written[0] == _QUOTED:
                    value = _attribute_value(written)
                history.append((moment(changed_at), int(change_id), name, value))
            if len(history) > 1:
                history.sort(key=_HISTORY_ORDER)
        self._history = tuple(history)
        completions: list[tuple[Any, ...]] = []
        if completions_part:
            fields = iter(completions_part.split(_FIELD))
            for completion_id, course, completed_at, score, passed in zip(
                fields, fields, fields, fields, fields, strict=True
            ):
                completions.append(
                    (
                        completion_id,
                        course,
                        moment(completed_at),
                        float(score) if score else None,
                        passed == "1",
                    )
                )
        self._completions = tuple(completions)
        self._breakpoints = None
        self._touched = None
        self._settled = None
        self._standing = None
        return self

    def share_strings(self) -> None:
        """Make the strings many learners share — level ids, courses, attribute names and
        values — the process's one copy of each (``sys.intern``): the :class:`FactsCache` calls
        this on an entry it keeps, before the entry is asked about (what the entry works out
        later is made from these). Reading interns nothing: most learners read are never kept,
        and interning was a sixth of reading one (``bench/cold_steps.py``)."""
        self._credentials = tuple(
            [
                (credential_id, intern(level_id), intern(level_name), *times)
                for credential_id, level_id, level_name, *times in self._credentials
            ]
        )
        self._history = tuple(
            [
                (changed_at, change_id, intern(name), intern(value) if value is not None else None)
                for changed_at, change_id, name, value in self._history
            ]
        )
        self._completions = tuple(
            [
                (completion_id, intern(course), completed_at, score, passed)
                for completion_id, course, completed_at, score, passed in self._completions
            ]
        )

    @property
    def touched(self) -> frozenset[str]:
        """The level ids of the learner's credentials and the courses of its completions: what
        :func:`~service.issuance.engine.facts_matter` asks about (made when first needed)."""
        if self._touched is None:
            touched = {credential[1] for credential in self._credentials}
            touched.update(completion[1] for completion in self._completions)
            self._touched = frozenset(touched)
        return self._touched

    @property
    def breakpoints(self) -> tuple[datetime, ...]:
        """Every moment at which what a check sees may change, in order (worked out when first
        needed: see :meth:`standing`)."""
        if self._breakpoints is None:
            self._breakpoints = self._work_out_breakpoints()
        return self._breakpoints

    def _work_out_breakpoints(self) -> tuple[datetime, ...]:
        points: set[datetime] = {change[0] for change in self._history}
        # What the earning engine says is missing (``rules``) also changes at completion times,
        # just after a strict re-earning cut-off, when a renewal window opens, and just after
        # the renewal path closes (``at <= valid_until + grace``).
        points.update(completion[2] for completion in self._completions)
        rules = self.rules
        for _, level_id, _, valid_from, valid_until, _, _, _ in self._credentials:
            rule = rules.get(level_id)
            if rule is None or valid_until is None:
                continue
            points.add(valid_from + _TICK)
            if rule.renewal is None:
                points.add(valid_until + _TICK)
                continue
            points.add(rule.renewal.window.subtract_from(valid_until))
            grace = rule.renewal.grace
            points.add((grace.add_to(valid_until) if grace else valid_until) + _TICK)
        for (
            _,
            _,
            _,
            valid_from,
            valid_until,
            revoked_at,
            suspensions,
            superseded_at,
        ) in self._credentials:
            points.add(valid_from)
            for moment in (valid_until, revoked_at, superseded_at):
                if moment is not None:
                    points.add(moment)
            for start, end in suspensions:
                points.add(start)
                if end is not None:
                    points.add(end)
        return tuple(sorted(points))

    def earning_facts(self, at: datetime) -> tuple[list[CompletionFact], list[CredentialFact]]:
        """The completions and credentials that existed at ``at``, as they stood then, as the
        earning engine takes them (made on demand, not kept: only a denial needs them, and
        named tuples are tracked by the collector). After the last change of any fact — every
        check about now — from the credentials' final state, worked out once."""
        if self._settled is None:
            return self._settle(at)
        settled, final = self._settled
        if settled is not None and at < settled:
            return facts_at(
                (CompletionFact(*row) for row in self._completions),
                self._credential_histories(),
                at,
            )
        return _earning_facts(self._completions, final)

    def _credential_histories(self) -> list[CredentialHistory]:
        """Each credential's history (for a question about the past)."""
        return [
            CredentialHistory(
                credential_id,
                level_id,
                valid_from,
                valid_until,
                revoked_at,
                suspensions,
                superseded_by,
                superseded_at,
            )
            for (
                credential_id,
                level_id,
                _,
                valid_from,
                valid_until,
                revoked_at,
                suspensions,
                superseded_at,
            ), superseded_by in zip(self._credentials, self._superseded_by, strict=True)
        ]

    def _settle(self, at: datetime) -> tuple[list[CompletionFact], list[CredentialFact]]:
        """:meth:`earning_facts` the first time, noting when every fact exists and has its last
        status (a revocation, suspension, reinstatement, supersession, award or completion:
        ``valid_until`` is no change of fact) and the credentials as they stand from then on —
        what every check about now asks for — as plain tuples (untracked by the collector,
        like the rest of the entry).

        The final state is :meth:`~service.issuance.history.CredentialHistory.as_of` any
        moment from then on, read off the history directly: revoked if ever revoked, else
        suspended from its first suspension not lifted, else active; superseded if ever.
        """
        settled: datetime | None = None
        for completion in self._completions:
            if settled is None or completion[2] > settled:
                settled = completion[2]
        final: list[tuple[Any, ...]] = []
        for (
            credential_id,
            level_id,
            _,
            valid_from,
            valid_until,
            revoked_at,
            suspensions,
            superseded_at,
        ), superseded_by in zip(self._credentials, self._superseded_by, strict=True):
            status, since = "active", None
            last = valid_from
            if revoked_at is not None:
                status, since = "revoked", revoked_at
                last = max(last, revoked_at)
            for start, end in suspensions:
                if end is None:
                    last = max(last, start)
                    if status == "active":
                        status, since = "suspended", start
                else:
                    last = max(last, start, end)
            if superseded_at is not None:
                last = max(last, superseded_at)
            if settled is None or last > settled:
                settled = last
            final.append(
                (credential_id, level_id, valid_from, valid_until, status, since, superseded_by)
            )
        self._settled = (settled, tuple(final))
        if settled is not None and at < settled:  # a question about the past
            return self.earning_facts(at)
        return _earning_facts(self._completions, final)

    def standing(
        self,
        at: datetime,
        prerequisites: Mapping[str, tuple[str, ...]],
        level_names: Mapping[str, str],
    ) -> Standing:
        """Holdings and attributes at ``at`` (reused while ``at`` stays between the same two
        breakpoints).

        The first time, they hold for ``at`` alone and the breakpoints are not worked out: an
        uncached learner is mostly asked about once (with a million learners a process keeps
        1% of them), and the breakpoints were 40% of parsing one. A second moment asked
        about works them out and is reused from then on.
        """
        known = self._standing
        if (
            known is not None
            and (known.start is None or known.start <= at)
            and (known.end is None or at < known.end)
        ):
            return known
        if known is None and self._breakpoints is None:
            start: datetime | None = at
            end: datetime | None = at + _TICK
        else:
            points = self.breakpoints
            index = bisect_right(points, at)
            start = points[index - 1] if index else None
            end = points[index] if index < len(points) else None
        holdings = held_levels(self._credentials, prerequisites, at, level_names)
        standing = Standing(start, end, holdings, attributes_at(self._history, at), {}, {})
        self._standing = standing
        return standing


def _held_fields(
    credential_id: str,
    level_id: str,
    level_name: str,
    valid_from: datetime,
    valid_until: datetime | None,
    status: str,
    status_changed_at: datetime | None,
    superseded_at: datetime | None,
    events: Sequence[tuple[datetime, int, str]] | None,
) -> tuple[Any, ...]:
    """A credential as an entry keeps it: a :class:`HeldCredential`'s fields. A credential
    whose status never changed after its issue (nearly all) needs no status history worked
    out."""
    if events or status != "active":
        revoked_at, suspensions = status_times(status, status_changed_at, valid_from, events or ())
    else:
        revoked_at, suspensions = None, ()
    return (
        credential_id,
        level_id,
        level_name,
        valid_from,
        valid_until,
        revoked_at,
        suspensions,
        superseded_at,
    )


def _earning_facts(
    completions: tuple[tuple[Any, ...], ...], credentials: Iterable[tuple[Any, ...]]
) -> EarningFacts:
    """The earning engine's facts from an entry's plain tuples, made with ``tuple.__new__``
    (what the named tuples' ``_make`` does, without its Python frame: a denial of an uncached
    learner makes some nine of them)."""
    new = tuple.__new__
    return (
        [new(CompletionFact, row) for row in completions],
        [new(CredentialFact, row) for row in credentials],
    )


class Keepable(Protocol):
    """What a :class:`FactsCache` reads of what it keeps."""

    revision: int

    def share_strings(self) -> None: ...


Kept = TypeVar("Kept", bound=Keepable)


class FactsCache(Generic[Kept]):
    """Learner facts of one catalog revision, at most ``capacity`` learners, the least recently
    asked about out first; a learner is kept only when asked about often enough (below), and
    nothing is kept while keeping would not pay (further below).

    Admission by frequency (as TinyLFU's): the cache counts how often each learner was asked
    about over the last ten to twenty times ``capacity`` asks (two generations of counts). While
    it has room, a learner is kept from its second ask; once full, only a learner asked about at
    least three times, and more often than the learner it would evict (the least recently asked
    about), takes that one's place. Keeping an entry costs: its strings are interned, its
    standing is worked out again over an interval on its next ask, and the one it evicts is
    torn down. Admitting every learner read twice lately, as this cache did before, made checks
    spread uniformly over two to four times its capacity *dearer* with the cache on than off:
    nearly every miss was kept and evicted another before it was asked about again
    (``bench/paired.py``, 20,000 learners: +58 us of server CPU a check against the cache off,
    and 59 and 62 us more than with these counts, the servers in either order). With the
    counts, such traffic keeps a stable set (the same hit rate with a tenth of the admissions:
    ``bench/cache_admission.py``), and traffic that favours some learners keeps more of those
    (a hit rate 4-8 points higher in its Zipf patterns). A learner kept whose facts changed is
    replaced at once.

    Whether keeping pays: a cache that answers few of the asks costs a served process more than
    it saves. At a million learners asked about uniformly a full cache answered 1% of the checks
    and cost the server 17.6 us a check more than none (``bench/paired.py``, eighteenth
    session). Its counts alone, nothing kept, cost 4.3 us; a full cache that took in nothing
    more, 20.5: most of the cost goes with the entries held, though the cache's own code costs
    some 2 us in process (``bench/cache_churn.py``), and what in the served process they make
    dearer was not found (the server's profile rose a little in many places: allocation,
    dictionary lookups, the kernel). So a cache of at least :data:`MODEL_MIN_CAPACITY` learners
    runs a model of itself over a sample of the learners, as SHARDS samples (Waldspurger et al.,
    "Efficient MRC Construction with SHARDS", FAST 2015): the learners whose id's hash is a
    multiple of :data:`MODEL_SAMPLE`, in a cache of this one's kind :data:`MODEL_SAMPLE` times
    smaller, which keeps ids only. After each of the model's windows (``ASK_WINDOW`` times its
    capacity of its asks: some 100,000 checks at the default capacity) the share of its asks it
    answered decides: under :data:`WORTH_KEEPING`, this cache lets go of everything it holds and
    keeps nothing (its own counts stop too); at or above, it keeps again, from empty. The model
    costs a hash's low bits per ask and its own bookkeeping for one ask in sixty-four.

    Used from the event loop only (no locking); ``capacity`` 0 keeps (and counts) nothing.
    """

    def __init__(self, capacity: int, *, modelled: bool = True) -> None:
        self.capacity = capacity
        self.catalog_revision: int | None = None
        # Least recently asked about first. An OrderedDict, not a dict: taking a plain dict's
        # first key walks past the slots its earlier deletions left (up to ~10,000 at this size,
        # 1.6 us an eviction against 0.25 here), and moving a key to the end is one C call.
        self._entries: OrderedDict[str, Kept] = OrderedDict()
        # Asks per learner in the current window of ``_window`` asks, and in the one before.
        self._window = ASK_WINDOW * capacity
        self._asks = 0
        self._counts: dict[str, int] = {}
        self._counts_before: dict[str, int] = {}
        #: Whether the cache keeps learners now (its model's last verdict; see above).
        self.keeping = True
        self._model: FactsCache[_Sampled] | None = None
        if modelled and capacity >= MODEL_MIN_CAPACITY:
            self._model = FactsCache(capacity // MODEL_SAMPLE, modelled=False)
        self._model_asks = 0
        self._model_hits = 0
        #: The share of asks the model answered in its last window (``None`` before the first).
        self.modelled_hits: float | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def for_catalog(self, revision: int) -> None:
        """Forget everything when the catalog changed (level names and rules are baked in)."""
        if revision != self.catalog_revision:
            self._entries.clear()
            self.catalog_revision = revision

    def holds(self, learner_id: str) -> bool:
        """Whether an entry for ``learner_id`` is kept (at any facts revision)."""
        return learner_id in self._entries

    def get(self, learner_id: str, revision: int) -> Kept | None:
        """The learner's entry at ``revision``, if kept. This is the check's ask: it counts
        towards the learner's frequency (and the model's, for a sampled learner), and a hit
        makes the entry the most recently used."""
        if self.capacity <= 0:
            return None
        if self._model is not None and not hash(learner_id) % MODEL_SAMPLE:
            self._ask_model(self._model, learner_id)
        if not self.keeping:
            return None
        counts = self._counts
        counts[learner_id] = counts.get(learner_id, 0) + 1
        self._asks += 1
        if self._asks >= self._window:
            self._counts_before, self._counts, self._asks = counts, {}, 0
        entry = self._entries.get(learner_id)
        if entry is None or entry.revision != revision:
            return None
        self._entries.move_to_end(learner_id)
        return entry

    def put(self, learner_id: str, entry: Kept) -> None:
        """Keep ``entry`` (just made, after a :meth:`get` that missed) if the learner is kept
        already (its newer facts) or is admitted (see above), its shared strings interned
        (:meth:`LearnerFacts.share_strings`)."""
        if self.capacity <= 0 or not self.keeping:
            return
        entries = self._entries
        if entries.pop(learner_id, None) is None:
            asked = self.frequency(learner_id)
            if len(entries) < self.capacity:
                if asked < 2:
                    return
            elif asked < 3 or asked <= self.frequency(next(iter(entries))):
                return
        while len(entries) >= self.capacity:
            entries.popitem(last=False)
        entry.share_strings()
        entries[learner_id] = entry

    def frequency(self, learner_id: str) -> int:
        """How often ``learner_id`` was asked about in this window of asks and the last."""
        return self._counts.get(learner_id, 0) + self._counts_before.get(learner_id, 0)

    def _ask_model(self, model: FactsCache[_Sampled], learner_id: str) -> None:
        """A sampled learner's ask, put to the model (as a check asks this cache); at the end
        of the model's window, whether to keep learners (see the class's docstring)."""
        if model.get(learner_id, 0) is None:
            model.put(learner_id, _SAMPLED)
        else:
            self._model_hits += 1
        self._model_asks += 1
        if self._model_asks < model._window:
            return
        self.modelled_hits = share = self._model_hits / self._model_asks
        self._model_asks = self._model_hits = 0
        keeping = share >= WORTH_KEEPING
        if keeping == self.keeping:
            return
        self.keeping = keeping
        log.info(
            "The permission facts cache %s: a model of it answered %.1f%% of the last %d"
            " sampled checks (it keeps learners at %.0f%% or more)",
            "keeps learners again" if keeping else "lets go of its learners and keeps none",
            100 * share,
            model._window,
            100 * WORTH_KEEPING,
        )
        if not keeping:
            self._entries.clear()
            self._counts, self._counts_before, self._asks = {}, {}, 0


class _Sampled:
    """What the model of a :class:`FactsCache` keeps for a learner: nothing but the fact."""

    __slots__ = ()
    revision = 0

    def share_strings(self) -> None:
        pass


_SAMPLED = _Sampled()

#: The admission counts' window, in asks per learner of capacity (see :class:`FactsCache`):
#: ten, as TinyLFU's sample, which keeps the counts under ~18 MB at the default capacity.
#: ``bench/cache_admission.py`` compares five and twenty: twenty admits a little less under
#: most patterns and twice as much at 100 times the capacity uniform, for twice the memory.
ASK_WINDOW = 10

#: One learner in this many is followed by a :class:`FactsCache`'s model of itself.
MODEL_SAMPLE = 64
#: The smallest capacity modelled: its model keeps 64 learners (a smaller one says little, and
#: a cache this small costs little to keep).
MODEL_MIN_CAPACITY = 64 * MODEL_SAMPLE
#: The share of its asks a cache's model must answer for the cache to keep learners. Measured
#: side by side against the cache off (``bench/paired.py``, eighteenth session, the code before
#: the model), a full cache of 10,000 cost the server 17.6 us a check more at a million learners
#: asked about uniformly (1% answered), 12.1 us at 40,000 (about 25%) and 5.6 us at 20,000
#: (about half); at 10,000, all answered, a check cost some 35 us less than a cold one at a
#: million. Where it starts to pay lies between half and all; half keeps a cache that nearly
#: pays and lets go of the rest.
WORTH_KEEPING = 0.5


def held_credential(row: CredentialRow, level_names: Mapping[str, str]) -> HeldCredential:
    """A credential with its status history as times (the engine's input)."""
    revoked_at, suspensions = status_times(
        row.status, row.status_changed_at, row.valid_from, row.events
    )
    return HeldCredential(
        row.id,
        row.level_id,
        level_names.get(row.level_id, row.level_id),
        row.valid_from,
        row.valid_until,
        revoked_at,
        suspensions,
        row.superseded_at,
    )


#: An attribute change's order: its time, then its id (AttributeChange's third and fourth).
_CHANGE_ORDER = itemgetter(2, 3)
#: The same order for an entry's history, whose changes start with their time and id.
_HISTORY_ORDER = itemgetter(0, 1)


def learner_facts(
    rows: FactsRows, level_names: Mapping[str, str], rules: Mapping[str, LevelRule] = _NO_RULES
) -> LearnerFacts:
    """A learner's entry from its facts as a read gave them: the tables' rows, or its
    ``learner_facts`` row."""
    if isinstance(rows, SummaryRow):
        return LearnerFacts.from_summary(rows, level_names, rules)
    return LearnerFacts(rows, level_names, rules)
