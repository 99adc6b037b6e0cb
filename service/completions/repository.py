"""The completions' queries: replays by external id, known courses, a batch's learners' facts
(completions and credentials, in one query each), and the multi-row insert."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import BindParameter, bindparam, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.issuance.engine_facts import CompletionFact, CredentialFact
from service.models import Completion, Credential


def _many(name: str) -> BindParameter[Any]:
    """``IN (...)`` bound as one expanding parameter (no per-value expression building)."""
    return bindparam(name, expanding=True)


def by_external_ids(
    session: Session, source: str, external_ids: Collection[str]
) -> list[Completion]:
    """The completions ``source`` stored under any of ``external_ids``."""
    query = select(Completion).where(
        Completion.source == source, col(Completion.external_id).in_(_many("ids"))
    )
    return list(session.exec(query, params={"ids": sorted(external_ids)}))


def credentials(session: Session, ids: Collection[str]) -> dict[str, Credential]:
    """The credentials ``ids``, by id."""
    if not ids:
        return {}
    query = select(Credential).where(col(Credential.id).in_(_many("ids")))
    return {c.id: c for c in session.exec(query, params={"ids": list(ids)})}


def insert_completions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(Completion.__table__), list(rows))  # type: ignore[attr-defined]


def list_for_learner(session: Session, learner_id: str) -> list[Completion]:
    query = (
        select(Completion)
        .where(Completion.learner_id == learner_id)
        .order_by(col(Completion.completed_at))
    )
    return list(session.exec(query))


def completion_facts(
    session: Session, learner_ids: set[str]
) -> defaultdict[str, dict[str, CompletionFact]]:
    table = Completion.__table__  # type: ignore[attr-defined]
    query = sa_select(
        table.c.id,
        table.c.learner_id,
        table.c.course_id,
        table.c.completed_at,
        table.c.score,
        table.c.passed,
    ).where(table.c.learner_id.in_(_many("ids")))
    facts: defaultdict[str, dict[str, CompletionFact]] = defaultdict(dict)
    for cid, learner_id, course_id, completed_at, score, passed in session.execute(
        query, {"ids": sorted(learner_ids)}
    ):
        facts[learner_id][cid] = CompletionFact(cid, course_id, completed_at, score, passed)
    return facts


def credential_facts(
    session: Session, learner_ids: set[str]
) -> defaultdict[str, list[CredentialFact]]:
    table = Credential.__table__  # type: ignore[attr-defined]
    query = (
        sa_select(
            table.c.id,
            table.c.learner_id,
            table.c.level_id,
            table.c.valid_from,
            table.c.valid_until,
            table.c.status,
            table.c.status_changed_at,
            table.c.superseded_by,
        )
        .where(table.c.learner_id.in_(_many("ids")))
        .order_by(table.c.valid_from)
    )
    held: defaultdict[str, list[CredentialFact]] = defaultdict(list)
    rows = session.execute(query, {"ids": sorted(learner_ids)})
    for cid, learner_id, level_id, valid_from, valid_until, status, changed, by in rows:
        held[learner_id].append(
            CredentialFact(cid, level_id, valid_from, valid_until, status, changed, by)
        )
    return held
