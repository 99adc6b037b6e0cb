"""Ingesting xAPI statements: validate the whole batch, then map each new statement to a
completion (through the completions service, so issuance is the JSON API's) or acknowledge it.

All or nothing: the batch is validated before anything is written, and any later failure
raises, so the request's transaction rolls everything back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.audit.service import lock_chain
from service.completions.schemas import CompletionIn
from service.completions.service import record_completion
from service.core.ids import LEARNER_ID
from service.db import utcnow
from service.errors import Conflict, ServiceError
from service.issuance.context import Issuer
from service.learners.models import Learner
from service.learners.schemas import LearnerRef
from service.xapi.models import XapiStatement
from service.xapi.settings import XapiSettings
from service.xapi.validation import (
    COMPLETION_VERBS,
    VERB_VOIDED,
    Actor,
    InvalidStatement,
    Statement,
    validate_statement,
)

MAX_STATEMENTS = 1000
EXTERNAL_ID_PREFIX = "xapi:"


class DuplicateStatementId(ServiceError):
    status = 400
    type = "duplicate-statement-id"
    title = "A statement id appears twice in the batch"


class StatementConflict(Conflict):
    type = "statement-conflict"
    title = "This statement id was stored with different content"


@dataclass
class Ingested:
    ids: list[str]
    outcomes: Counter[str] = field(default_factory=Counter)


def validate_batch(
    raws: Sequence[Any], *, statement_id: str | None = None, location: str = "statements"
) -> list[Statement]:
    """Every statement valid and every id unique, or a 400 naming the first bad field."""
    if not raws:
        raise InvalidStatement("Send one statement or a non-empty array of statements.")
    if len(raws) > MAX_STATEMENTS:
        raise InvalidStatement(f"At most {MAX_STATEMENTS} statements per request.")
    now = utcnow()
    statements = [
        validate_statement(
            raw,
            location=f"{location}[{i}]" if statement_id is None else "statement",
            now=now,
            statement_id=statement_id,
        )
        for i, raw in enumerate(raws)
    ]
    seen: dict[str, int] = {}
    for index, statement in enumerate(statements):
        if statement.id in seen:
            raise DuplicateStatementId(
                f"Statement id {statement.id} appears at {location}[{seen[statement.id]}] and "
                f"{location}[{index}]; nothing was stored.",
                statement_id=statement.id,
            )
        seen[statement.id] = index
    return statements


def ingest(
    session: Session,
    issuer: Issuer,
    settings: XapiSettings,
    statements: Sequence[Statement],
    *,
    source: str,
    actor: str,
) -> Ingested:
    """Store what is new; a known id with the same content is a no-op, with other content a 409."""
    lock_chain(session)  # the "seen before?" check and the inserts must not interleave
    result = Ingested(ids=[s.id for s in statements])
    known = dict(
        session.exec(
            select(XapiStatement.id, XapiStatement.content_hash).where(
                col(XapiStatement.id).in_(result.ids)
            )
        ).all()
    )
    catalog = issuer.catalog.get(session)
    now = utcnow()
    for statement in statements:
        stored_hash = known.get(statement.id)
        if stored_hash is not None:
            if stored_hash != statement.content_hash:
                raise StatementConflict(
                    f"Statement {statement.id} was already stored with different content; "
                    "statements are immutable.",
                    statement_id=statement.id,
                )
            result.outcomes["replayed"] += 1
            continue
        outcome, reason, completion_id = _map(
            session, issuer, settings, statement, catalog.xapi_activities, source, actor
        )
        result.outcomes[outcome] += 1
        session.add(
            XapiStatement(
                id=statement.id,
                content_hash=statement.content_hash,
                source=source,
                verb_id=statement.verb_id,
                activity_id=statement.object_id[:2048],
                outcome="completion" if completion_id else "ignored",
                reason=reason,
                completion_id=completion_id,
                received_at=now,
            )
        )
    session.flush()
    return result


def _map(
    session: Session,
    issuer: Issuer,
    settings: XapiSettings,
    statement: Statement,
    activities: dict[str, str],
    source: str,
    actor: str,
) -> tuple[str, str | None, str | None]:
    """(metrics outcome, reason it was ignored, completion id)."""
    if statement.verb_id == VERB_VOIDED:
        return "voided", "voiding statement (completions are not retracted by xAPI)", None
    if statement.verb_id not in COMPLETION_VERBS:
        return "ignored_verb", f"verb {statement.verb_id} is not passed or completed", None
    if statement.object_type != "Activity":
        return "ignored_object", f"object is a {statement.object_type}, not an Activity", None
    course_id = activities.get(statement.object_id)
    if course_id is None:
        return "unmapped_activity", "no course has this xapi_activity_id", None
    learner = _learner(session, settings, statement.actor)
    if learner is None:
        return "unmapped_actor", "the actor maps to no learner id (see learner_id_from)", None
    learner_id, details = learner
    body = CompletionIn(
        learner_id=learner_id,
        course_id=course_id,
        completed_at=statement.timestamp or statement.stored or utcnow(),
        score=statement.score,
        passed=statement.success is not False,
        external_id=EXTERNAL_ID_PREFIX + statement.id,
        learner=details,
    )
    recorded = record_completion(session, issuer, body, source=source, actor=actor)
    return "completion", None, recorded.completion.id


def _learner(
    session: Session, settings: XapiSettings, actor: Actor
) -> tuple[str, LearnerRef | None] | None:
    """(learner id, details to create it with when unknown), or None when it cannot map."""
    if actor.kind != "agent":
        return None
    order = ["account", "mbox"] if settings.learner_id_from == "account" else ["mbox", "account"]
    if not settings.learner_fallback:
        order = order[:1]
    name = actor.name[:200] if actor.name else None
    for kind in order:
        if kind == "account" and actor.account_name is not None:
            learner_id = actor.account_name
            if not LEARNER_ID.match(learner_id):
                return None
            if session.get(Learner, learner_id) is not None:
                return learner_id, None
            return learner_id, LearnerRef(name=name)
        if kind == "mbox" and actor.mbox is not None:
            email = actor.mbox
            existing = session.exec(
                select(Learner.id)
                .where(Learner.email == email)
                .order_by(col(Learner.created_at), col(Learner.id))
                .limit(1)
            ).first()
            if existing is not None:
                return existing, None
            if not LEARNER_ID.match(email):
                return None
            if session.get(Learner, email) is not None:
                return email, None
            try:
                return email, LearnerRef(email=email, name=name)
            except ValidationError:
                return email, LearnerRef(name=name)
    return None
