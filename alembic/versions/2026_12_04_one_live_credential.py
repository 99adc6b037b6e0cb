"""One live credential per learner and level, enforced by the database.

A credential is *live* while it is neither superseded nor revoked (expired and suspended ones
are still live: a renewal supersedes them, a revocation ends them). The earning engine and the
manual award always meant at most one; on PostgreSQL, concurrent awards and evaluations once
read "none yet" side by side and each inserted one. The partial unique index makes a second
live credential impossible whatever the code path.

Databases that already hold duplicates (from that race) are repaired first: in each group the
newest credential (latest ``valid_from``, then ``issued_at``, then id) stays live and the others
are marked superseded by it, each with a ``credential.superseded`` audit event appended to the
chain, so the repair is itself on the record.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from credentials.audit import GENESIS_HASH, chain_hash, event_body

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_credential_live"
LIVE = "superseded_by IS NULL AND status <> 'revoked'"
_PG_AUDIT_LOCK = 0x43524544_41554454  # the chain's append lock (service/audit/service.py)


def _repair_duplicates(connection: sa.Connection) -> None:
    rows = connection.execute(
        sa.text(
            f"SELECT id, learner_id, level_id FROM credential WHERE {LIVE} "
            "ORDER BY learner_id, level_id, valid_from DESC, issued_at DESC, id DESC"
        )
    ).all()
    keeper: dict[tuple[str, str], str] = {}
    repairs: list[tuple[str, str, str, str]] = []  # (duplicate, keeper, learner, level)
    for credential_id, learner_id, level_id in rows:
        kept = keeper.setdefault((learner_id, level_id), credential_id)
        if kept != credential_id:
            repairs.append((credential_id, kept, learner_id, level_id))
    if not repairs:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if connection.dialect.name == "sqlite":  # stored as naive UTC there (service.db.UTCDateTime)
        now = now.replace(tzinfo=None)
    head = connection.execute(
        sa.text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
    ).first()
    seq, prev_hash = (head[0], head[1]) if head else (0, GENESIS_HASH)
    audit = sa.table(
        "audit_event",
        sa.column("seq"),
        sa.column("at", sa.DateTime()),
        sa.column("actor"),
        sa.column("action"),
        sa.column("subject"),
        sa.column("data", sa.JSON),
        sa.column("prev_hash"),
        sa.column("hash"),
    )
    for duplicate, kept, learner_id, level_id in repairs:
        connection.execute(
            sa.text(
                "UPDATE credential SET superseded_by = :kept, superseded_at = :now WHERE id = :id"
            ),
            {"kept": kept, "now": now, "id": duplicate},
        )
        seq += 1
        data = {
            "learner": learner_id,
            "level": level_id,
            "superseded_by": kept,
            "reason": "duplicate live credential from a concurrent award, repaired by migration",
        }
        actor, action, subject = "system:migration", "credential.superseded", f"credential:{duplicate}"
        digest = chain_hash(prev_hash, event_body(seq, stamp, actor, action, subject, data))
        connection.execute(
            sa.insert(audit).values(
                seq=seq,
                at=now,
                actor=actor,
                action=action,
                subject=subject,
                data=data,
                prev_hash=prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest


def upgrade() -> None:
    _repair_duplicates(op.get_bind())
    op.create_index(
        INDEX,
        "credential",
        ["learner_id", "level_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="credential")
