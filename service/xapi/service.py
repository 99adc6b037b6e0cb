"""Ingesting xAPI statements: validate the whole batch, then map each new statement to a
completion (through the completions service, so issuance is the JSON API's) or acknowledge it.

All or nothing: the batch is validated before anything is written, and any later failure
raises, so the request's transaction rolls everything back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from service.audit.service import lock_chain
from service.completions.schemas import CompletionIn
from service.completions.service import record_batch
from service.core.ids import LEARNER_ID
from service.db import utcnow
from service.errors import Conflict, ServiceError
from service.issuance.context import Issuer
from service.learners.schemas import LearnerRef
from service.models import XapiAttachment
from service.xapi import repository
from service.xapi.attachments import Received
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
    #: the statements' stored time: every statement stored before it is visible to readers
    stored_at: datetime
    outcomes: Counter[str] = field(default_factory=Counter)


def validate_batch(
    raws: Sequence[Any],
    *,
    statement_id: str | None = None,
    location: str = "statements",
    version: str = "1.0.3",
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
            version=version,
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
    authority: dict[str, Any],
    version: str,
    attachments: Sequence[Received] = (),
) -> Ingested:
    """Store what is new; a known id with the same content is a no-op, with other content a 409.

    New statements are kept as stored (see :func:`as_stored`), with ``authority`` (the API
    client) and ``version`` (the request's xAPI version) set; the attachment data of new
    statements is kept when the settings say so.
    """
    lock_chain(session)  # the "seen before?" check and the inserts must not interleave
    # stored times have millisecond precision, as they are shown: a reader's since=<stored>
    # then never returns the statement it came from again
    now = utcnow()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    result = Ingested(ids=[s.id for s in statements], stored_at=now)
    known = repository.content_hashes(session, result.ids)
    catalog = issuer.catalog.get(session)
    known_learners = _Known.read(session, [s for s in statements if s.id not in known])
    # Plain rows for one multi-row insert: an ORM object per statement (validated by SQLModel,
    # then flushed one by one) cost more than the rest of its storing.
    rows: list[dict[str, Any]] = []
    agents: list[dict[str, str]] = []
    kept: set[str] = set()
    completing: list[tuple[dict[str, Any], CompletionIn]] = []
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
        outcome, reason, body = _map(known_learners, settings, statement, catalog.xapi_activities)
        result.outcomes[outcome] += 1
        row = {
            "id": statement.id,
            "content_hash": statement.content_hash,
            "source": source,
            "verb_id": statement.verb_id,
            "activity_id": statement.object_id[:2048],
            "object_type": statement.object_type,
            "outcome": "completion" if body is not None else "ignored",
            "reason": reason,
            "completion_id": None,
            "received_at": now,
            "statement": as_stored(statement, stored=now, authority=authority, version=version),
        }
        rows.append(row)
        agents += [{"statement_id": statement.id, "agent_key": k} for k in statement.agent_keys]
        kept.update(ref.sha2 for ref in statement.attachments)
        if body is not None:
            completing.append((row, body))
    if completing:
        # One bulk pass, as POST /v1/completions/batch does; any item refused refuses them all.
        items = [body for _, body in completing]  # validated already: not parsed again
        outcomes = record_batch(session, issuer, items, source=source, actor=actor)
        for (row, _), recorded in zip(completing, outcomes, strict=True):
            if recorded.problem is not None:
                raise recorded.problem
            assert recorded.recorded is not None
            row["completion_id"] = recorded.recorded.completion.id
    repository.store(session, rows, agents)
    if settings.attachments == "store":
        _keep_attachments(session, [a for a in attachments if a.sha2 in kept], now)
    return result


def as_stored(
    statement: Statement, *, stored: datetime, authority: dict[str, Any], version: str
) -> str:
    """The statement as Credence returns it (xAPI Data 2.4): ``id`` (assigned when absent),
    ``stored`` (overwritten), ``authority`` (the API client that sent it, overwritten),
    ``version`` (1.0.0, or 2.0.0 for a 2.0.0 request, when absent) and ``timestamp`` (the
    stored time when absent) set; everything else as sent."""
    when = stored.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    body = {"id": statement.id} | {k: v for k, v in statement.raw.items() if k != "id"}
    body.setdefault("timestamp", when)
    body["stored"] = when
    body["authority"] = authority
    body.setdefault("version", "2.0.0" if version.startswith("2.") else "1.0.0")
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _keep_attachments(session: Session, received: Sequence[Received], now: datetime) -> None:
    """Store attachment data not stored yet (by SHA-2; writers hold the chain lock)."""
    if not received:
        return
    have = repository.stored_attachments(session, [r.sha2 for r in received])
    repository.store_attachments(
        session,
        [
            XapiAttachment(
                sha2=r.sha2,
                content_type=r.content_type,
                length=len(r.data),
                content=r.data,
                received_at=now,
            )
            for r in received
            if r.sha2 not in have
        ],
    )


def _map(
    known: _Known,
    settings: XapiSettings,
    statement: Statement,
    activities: dict[str, str],
) -> tuple[str, str | None, CompletionIn | None]:
    """(metrics outcome, reason it was ignored, the completion it makes)."""
    if statement.verb_id == VERB_VOIDED:
        return "voided", "voiding statement (completions are not retracted by xAPI)", None
    if statement.verb_id not in COMPLETION_VERBS:
        return "ignored_verb", f"verb {statement.verb_id} is not passed or completed", None
    if statement.object_type != "Activity":
        return "ignored_object", f"object is a {statement.object_type}, not an Activity", None
    course_id = activities.get(statement.object_id)
    if course_id is None:
        return "unmapped_activity", "no course has this xapi_activity_id", None
    learner = _learner(known, settings, statement.actor)
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
    return "completion", None, body


@dataclass
class _Known:
    """The learners a batch's actors could name, read once: ids that exist, and per email the
    oldest learner with it."""

    ids: set[str]
    by_email: dict[str, str]

    @classmethod
    def read(cls, session: Session, statements: Sequence[Statement]) -> _Known:
        agents = [s.actor for s in statements if s.actor.kind == "agent"]
        emails = {a.mbox for a in agents if a.mbox is not None}
        names = {a.account_name for a in agents if a.account_name is not None} | emails
        ids = repository.learner_ids(session, names)
        by_email: dict[str, str] = {}
        for email, learner_id in repository.learners_by_email(session, emails):
            by_email.setdefault(email, learner_id)
        return cls(ids, by_email)


def _learner(
    known: _Known, settings: XapiSettings, actor: Actor
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
            if learner_id in known.ids:
                return learner_id, None
            return learner_id, LearnerRef(name=name)
        if kind == "mbox" and actor.mbox is not None:
            email = actor.mbox
            existing = known.by_email.get(email)
            if existing is not None:
                return existing, None
            if not LEARNER_ID.match(email):
                return None
            if email in known.ids:
                return email, None
            try:
                return email, LearnerRef(email=email, name=name)
            except ValidationError:
                return email, LearnerRef(name=name)
    return None
