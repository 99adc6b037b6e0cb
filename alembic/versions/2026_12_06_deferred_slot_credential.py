"""A status-list slot's reference to its credential is checked at commit.

Issuing claims a credential's status-list slots before signing it (the signed credential names
its indices), and used to insert the credential unsigned first, for the slots to refer to, then
write it again with its signature: a second statement per group of issued credentials, and a
second copy of each ~3 KB row (with the facts-revision trigger run again). With the reference
checked at commit, the slots are claimed first and the credential is inserted once, signed. The
rule is unchanged: a transaction that leaves a slot without its credential still fails (at
commit).

PostgreSQL alters the constraint in place; SQLite rebuilds the table (batch mode) to redefine it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "fk_status_slot_credential_id_credential"


def _redefine(deferred: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        timing = "DEFERRABLE INITIALLY DEFERRED" if deferred else "NOT DEFERRABLE"
        op.execute(f"ALTER TABLE status_slot ALTER CONSTRAINT {NAME} {timing}")
        return
    with op.batch_alter_table("status_slot", recreate="always") as batch_op:
        batch_op.drop_constraint(NAME, type_="foreignkey")
        batch_op.create_foreign_key(
            NAME,
            "credential",
            ["credential_id"],
            ["id"],
            deferrable=True if deferred else None,
            initially="DEFERRED" if deferred else None,
        )


def upgrade() -> None:
    _redefine(deferred=True)


def downgrade() -> None:
    _redefine(deferred=False)
