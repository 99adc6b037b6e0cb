"""The demo organisation: the demo catalog, five learners and their completions, written
through the same services as the API (so issuance, audit and idempotency are the real ones).

Seeding is idempotent. Every completion carries an ``external_id`` under the ``demo`` source,
and its date is relative to an anchor: the time of the first run, read back from the first
completion it stored. A second run therefore sends exactly the same completions again, which
the idempotency rule answers with the stored results and nothing written; the learners'
details are unchanged, so no learner is updated either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session

from service.catalog import service as catalog
from service.catalog.diff import diff_catalogs
from service.catalog.document import CatalogDocument
from service.catalog.validation import load_catalog
from service.completions.service import list_for_learner, record_batch
from service.db import utcnow
from service.errors import Conflict, ServiceError
from service.issuance.context import Issuer
from service.keys.service import ensure_development_key
from service.learners import service as learners

CATALOG_FILE = (
    Path(__file__).resolve().parents[1] / "catalog" / "demo" / "social-media-program.yaml"
)
SOURCE = "demo"


@dataclass(frozen=True)
class DemoLearner:
    id: str
    name: str
    department: str
    region: str
    role: str | None = None
    #: the attributes (the role above all: mandates count from it) took effect this many days
    #: before the anchor
    attributes_days: int = 0
    #: (course, days before the anchor, score)
    completions: tuple[tuple[str, int, float | None], ...] = ()


LEARNERS = (
    DemoLearner(
        "ana",
        "Ana Lima",
        "Marketing",
        "EU",
        role="marketing",
        attributes_days=60,
        completions=(("policy-101", 40, 92), ("brand-voice-101", 39, None)),
    ),
    DemoLearner(
        "bo",
        "Bo Chen",
        "Community",
        "UK",
        role="community-manager",
        attributes_days=200,
        completions=(
            ("policy-101", 321, 85),
            ("brand-voice-101", 320, None),
            ("disclosure-101", 60, None),
            ("community-201", 45, None),
            ("paid-social-201", 30, None),
        ),
    ),
    DemoLearner(
        "cy",
        "Cy Okafor",
        "Sales",
        "US",
        completions=(("policy-101", 430, 88), ("brand-voice-101", 428, None)),
    ),
    DemoLearner(
        "dee",
        "Dee Novak",
        "Marketing",
        "EU",
        role="marketing",
        attributes_days=10,
        completions=(("policy-101", 20, 70), ("brand-voice-101", 18, None)),
    ),
    DemoLearner(
        "eli",
        "Eli Haddad",
        "Community",
        "US",
        role="community-manager",
        attributes_days=90,
        completions=(
            ("policy-101", 12, 95),
            ("brand-voice-101", 11, None),
            ("disclosure-101", 5, None),
            ("community-201", 3, None),
        ),
    ),
)
#: The completion whose stored date gives the anchor of an earlier run.
ANCHOR = (LEARNERS[0].id, LEARNERS[0].completions[0])


class OtherCatalog(Conflict):
    type = "demo-other-catalog"
    title = "The database holds another catalog"


@dataclass
class Seeded:
    anchor: datetime
    completions_stored: int = 0
    credentials_issued: int = 0
    problems: list[str] = field(default_factory=list)


def external_id(learner: str, course: str) -> str:
    return f"demo:{learner}:{course}"


def seed(session: Session, issuer: Issuer, *, actor: str) -> Seeded:
    """Apply the demo catalog and record the learners and completions (flushes only)."""
    demo = load_catalog(CATALOG_FILE.read_bytes())
    catalog.apply(session, lambda current: _demo_over(current, demo), actor=actor)
    ensure_development_key(session, issuer.settings)
    anchor = _anchor(session)
    result = Seeded(anchor=anchor)
    for person in LEARNERS:
        attributes = {"department": person.department, "region": person.region}
        if person.role:
            attributes["role"] = person.role
        learners.put(
            session,
            person.id,
            actor=actor,
            name=person.name,
            email=f"{person.id}@example.com",
            attributes=attributes,
            effective_at=anchor - timedelta(days=person.attributes_days),
        )
    items = [
        _item(person, course, days, score, anchor)
        for person in LEARNERS
        for course, days, score in person.completions
    ]
    for outcome in record_batch(session, issuer, items, source=SOURCE, actor=actor):
        if outcome.recorded is None:
            assert outcome.problem is not None
            result.problems.append(outcome.problem.detail)
        elif outcome.recorded.created:
            result.completions_stored += 1
            result.credentials_issued += len(outcome.recorded.issued)
    if result.problems:
        raise ServiceError("The demo's completions were refused: " + "; ".join(result.problems))
    return result


def _demo_over(current: CatalogDocument, demo: CatalogDocument) -> CatalogDocument:
    """The demo catalog, on an empty catalog or over itself; never over someone else's."""
    empty = not (current.courses or current.tracks or current.programs or current.roles)
    if not empty and not diff_catalogs(current, demo).is_empty:
        raise OtherCatalog(
            "This database already holds a catalog other than the demo's; the demo would "
            "archive it. Run the demo on a database of its own, e.g. "
            "CREDENCE_DATABASE_URL=sqlite:///./demo.db (for `make run` too)."
        )
    return demo


def _anchor(session: Session) -> datetime:
    """The first run's time, from the first completion it stored; now on a first run."""
    learner_id, (course, days, _) = ANCHOR
    for completion in list_for_learner(session, learner_id):
        if completion.source == SOURCE and completion.external_id == external_id(
            learner_id, course
        ):
            return completion.completed_at + timedelta(days=days)
    return utcnow().replace(microsecond=0)


def _item(
    person: DemoLearner, course: str, days: int, score: float | None, anchor: datetime
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "learner_id": person.id,
        "course_id": course,
        "completed_at": anchor - timedelta(days=days),
        "external_id": external_id(person.id, course),
    }
    if score is not None:
        item["score"] = score
    return item
