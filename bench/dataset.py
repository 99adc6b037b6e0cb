"""A realistic data set for the read benchmarks: learners with three years of history.

Per learner: the learner row and its attribute history (region and department, the region
changed once), Foundations renewed yearly (three superseded generations and the current one:
2% revoked, 2% suspended, 8% expired), Practitioner for 80% (a superseded generation and the
current one), Black Belt for 30%, each credential with its status events and its two status-list
slots (revocation and suspension; the bit set for the revoked and suspended), three passed
completions, and the audit events all of it would have written (learner created, completion
recorded, credential issued or renewed). About six credentials, seven status events, twelve
slots and ten audit events a learner.

:func:`rows` yields ``(table, values)`` in the order a running deployment would have appended
them: by time, so one learner's credentials, events and completions lie far apart in their
tables as they would after years of service (not side by side, as a learner-by-learner load
would put them). ``bench/permissions.py`` inserts them with Core; ``bench/scale.py`` streams
them into PostgreSQL with COPY.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

FOUNDATIONS, PRACTITIONER, BLACK_BELT = (
    "social-media/foundations",
    "social-media/practitioner",
    "social-media/black-belt",
)
REGIONS = ["EU", "UK", "US", "APAC", "LATAM"]
COURSES = ("policy-101", "brand-voice-101", "disclosure-101")
#: A stored VC-JWT as the hot paths see it. A real one (ES256, with evidence and a status entry)
#: is about 3.2 KB and compresses to about 2.4 KB, so PostgreSQL moves it out of the row into the
#: credential table's TOAST table, leaving an 18-byte pointer: a short stand-in keeps the rows
#: as wide as they really are without writing gigabytes nothing reads (the check and verify
#: never read it). ``bench/permissions.py`` passes its own, wider one (SQLite keeps it inline).
STORED_JWT = "eyJhbGciOiJFUzI1NiJ9.stand-in"
LIST_FILL = 65_536  # status lists are filled to half their 131,072 slots (service.status)

COLUMNS: dict[str, tuple[str, ...]] = {
    "learner": (
        "id",
        "email",
        "name",
        "did",
        "subject_uuid",
        "attributes",
        "revision",
        "facts_revision",
        "created_at",
        "updated_at",
    ),
    "learner_attribute_change": ("learner_id", "name", "value", "changed_at"),
    "credential": (
        "id",
        "learner_id",
        "level_id",
        "level_version",
        "issued_at",
        "valid_from",
        "valid_until",
        "status",
        "status_changed_at",
        "status_reason",
        "superseded_by",
        "superseded_at",
        "renewal",
        "manual",
        "evidence",
        "kid",
        "jwt",
    ),
    "credential_status_event": ("credential_id", "status", "at", "reason", "actor"),
    "status_list": ("id", "purpose", "size", "used", "revision", "created_at"),
    "status_slot": ("list_id", "idx", "credential_id", "purpose", "is_set"),
    "completion": (
        "id",
        "learner_id",
        "course_id",
        "completed_at",
        "score",
        "passed",
        "source",
        "external_id",
        "request_hash",
        "received_at",
        "issued",
    ),
    "audit_event": ("seq", "at", "actor", "action", "subject", "data", "prev_hash", "hash"),
}


@dataclass(frozen=True)
class Issue:
    """One credential every eligible learner got ``days`` ago (the passes, oldest first)."""

    days: int
    level: str
    years: int
    generation: int  # the level's generation: superseded by generation + 1 when there is one
    superseded_days: int | None = None


# Foundations renewed yearly, Practitioner every two years; the current Foundations is issued
# 400 days ago for the 8% whose one has expired, 20 days ago for the others.
ISSUES = (
    Issue(1100, FOUNDATIONS, 1, 0, superseded_days=735),
    Issue(900, PRACTITIONER, 2, 0, superseded_days=170),
    Issue(740, FOUNDATIONS, 1, 1, superseded_days=376),
    Issue(400, FOUNDATIONS, 1, 3),  # expired
    Issue(380, FOUNDATIONS, 1, 2, superseded_days=17),
    Issue(170, PRACTITIONER, 2, 1),
    Issue(60, BLACK_BELT, 2, 0),
    Issue(20, FOUNDATIONS, 1, 3),  # current
)


class Learners:
    """Each learner's draws, made once (``seed`` fixes them) and kept compactly."""

    def __init__(self, count: int, seed: int = 42) -> None:
        rng = random.Random(seed)
        self.count = count
        self.region = array("b")
        self.first_region = array("b")
        self.roll = array("d")
        self.practitioner = array("b")
        self.black_belt = array("b")
        self.completed = array("h")  # days ago, three per learner
        for _ in range(count):
            self.region.append(rng.randrange(len(REGIONS)))
            self.first_region.append(rng.randrange(len(REGIONS)))
            self.roll.append(rng.random())
            self.practitioner.append(rng.random() < 0.8)
            self.black_belt.append(rng.random() < 0.3)
            self.completed.extend(rng.randint(20, 400) for _ in COURSES)

    def gets(self, issue: Issue, n: int) -> bool:
        if issue.level == PRACTITIONER:
            return bool(self.practitioner[n])
        if issue.level == BLACK_BELT:
            return bool(self.black_belt[n])
        if issue.generation == 3:
            return (self.roll[n] > 0.92) == (issue.days == 400)
        return True

    def status(self, issue: Issue, n: int) -> str:
        if issue.generation != 3 or issue.level != FOUNDATIONS:
            return "active"
        roll = self.roll[n]
        return "revoked" if roll < 0.02 else "suspended" if roll < 0.04 else "active"


def _uuid(number: int) -> str:
    """A fixed, random-looking UUID per number (keys spread over an index as uuid4s are)."""
    return str(uuid.UUID(int=number * 0x9E3779B97F4A7C15F39CC0605CEDC835 % (1 << 128)))


def credential_id(n: int, issue: Issue) -> str:
    """Learner ``n``'s credential of ``issue`` (the supersession names the next generation's
    before it is written)."""
    level = (FOUNDATIONS, PRACTITIONER, BLACK_BELT).index(issue.level)
    return f"urn:uuid:{_uuid(n * 16 + level * 4 + issue.generation)}"


def _next_generation(issue: Issue) -> Issue:
    return Issue(0, issue.level, issue.years, issue.generation + 1)


@dataclass
class Start:
    """Where the loaded rows continue what the database already holds."""

    audit_seq: int = 0  # the chain's head
    audit_hash: str = "0" * 64
    list_id: int = 0  # the highest status list id


def start_of(connection: Connection) -> Start:
    """Where rows appended to the database ``connection`` reads must continue."""
    head = connection.execute(
        text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
    ).first()
    lists = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM status_list")).scalar()
    return Start(
        audit_seq=head[0] if head else 0,
        audit_hash=head[1] if head else "0" * 64,
        list_id=int(lists or 0),
    )


def rows(
    learners: Learners, start: Start, now: datetime | None = None, *, jwt: str = STORED_JWT
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Every row of the data set as ``(table, values in COLUMNS order)``, oldest first."""
    now = now or datetime.now(UTC)
    count = learners.count
    seq, prev_hash = start.audit_seq, start.audit_hash

    def audit(at: datetime, action: str, subject: str, data: dict[str, Any]) -> tuple[Any, ...]:
        nonlocal seq, prev_hash
        seq += 1
        digest = hashlib.sha256(f"{prev_hash}{seq}".encode()).hexdigest()
        event = (seq, at, "bench", action, subject, data, prev_hash, digest)
        prev_hash = digest
        return event

    created = now - timedelta(days=1200)
    for n in range(count):
        learner = f"L{n}"
        region = REGIONS[learners.region[n]]
        yield (
            "learner",
            (
                learner,
                f"{learner.lower()}@example.com",
                f"Learner {n}",
                None,
                _uuid((1 << 40) + n),
                {"region": region, "department": "marketing"},
                1,
                24,
                created,
                created,
            ),
        )
        yield "audit_event", audit(created, "learner.created", f"learner:{learner}", {})
        yield (
            "learner_attribute_change",
            (learner, "region", REGIONS[learners.first_region[n]], created),
        )
        yield "learner_attribute_change", (learner, "department", "marketing", created)

    # The status lists first (so a slot never names a list not yet written), as full as the
    # credentials below make them: each credential takes slot ``slot`` of a pair of lists.
    credentials = sum(learners.gets(issue, n) for issue in ISSUES for n in range(count))
    for pair in range((credentials + LIST_FILL - 1) // LIST_FILL):
        used = min(LIST_FILL, credentials - pair * LIST_FILL)
        for offset, purpose in ((1, "revocation"), (2, "suspension")):
            list_id = start.list_id + 2 * pair + offset
            yield "status_list", (list_id, purpose, 131_072, used, 1, now - timedelta(days=1100))

    slot = 0
    for issue in ISSUES:
        valid_from = now - timedelta(days=issue.days)
        changed = valid_from + timedelta(days=1)
        valid_until = valid_from + timedelta(days=365 * issue.years)
        superseded_at = (
            now - timedelta(days=issue.superseded_days)
            if issue.superseded_days is not None
            else None
        )
        for n in range(count):
            if not learners.gets(issue, n):
                continue
            learner = f"L{n}"
            status = learners.status(issue, n)
            cid = credential_id(n, issue)
            superseded_by = (
                credential_id(n, _next_generation(issue)) if superseded_at is not None else None
            )
            yield (
                "credential",
                (
                    cid,
                    learner,
                    issue.level,
                    1,
                    valid_from,
                    valid_from,
                    valid_until,
                    status,
                    changed if status != "active" else valid_from,
                    None,
                    superseded_by,
                    superseded_at,
                    issue.generation > 0,
                    False,
                    [],
                    "bench",
                    jwt,
                ),
            )
            yield "credential_status_event", (cid, "active", valid_from, None, "bench")
            if status != "active":
                yield "credential_status_event", (cid, status, changed, None, "bench")
            pair, index = divmod(slot, LIST_FILL)
            idx = (index * 40503 % LIST_FILL) * 2 + (index & 1)
            revocation = start.list_id + 2 * pair + 1
            yield "status_slot", (revocation, idx, cid, "revocation", status == "revoked")
            yield "status_slot", (revocation + 1, idx, cid, "suspension", status == "suspended")
            slot += 1
            action = "credential.renewed" if issue.generation > 0 else "credential.issued"
            data = {"learner": learner, "level": issue.level, "version": 1}
            yield "audit_event", audit(valid_from, action, f"credential:{cid}", data)
        if issue.days == 380:  # the region changed 300 days ago (after this pass's issues)
            for n in range(count):
                region = REGIONS[learners.region[n]]
                at = now - timedelta(days=300)
                yield "learner_attribute_change", (f"L{n}", "region", region, at)

    for k, course in enumerate(COURSES):
        for n in range(count):
            learner = f"L{n}"
            completed = now - timedelta(days=learners.completed[3 * n + k])
            completion = _uuid((1 << 41) + 3 * n + k)
            yield (
                "completion",
                (
                    completion,
                    learner,
                    course,
                    completed,
                    90.0,
                    True,
                    "bench",
                    None,
                    "0" * 64,
                    completed,
                    [],
                ),
            )
            data = {"learner": learner, "course": course}
            yield (
                "audit_event",
                audit(completed, "completion.recorded", f"completion:{completion}", data),
            )
