"""Queuing earners' email. Everything here runs in the caller's transaction (flush only).

Like the webhooks, mail follows the audit chain, the transactional outbox of every change: a
credential's ``credential.issued`` / ``.renewed`` / ``.revoked`` event is committed with the
change, and the relay turns it into a message in a later transaction, with its own cursor. A
message is keyed by its event (``audit:<seq>``, ``expiring:<credential>:<days>``), so no event is
mailed twice, and nothing is ever sent from a request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from service.earners import repository
from service.earners.settings import MailSettings
from service.models import Credential, Learner, MailMessage

#: The kind of message each mailed audit action becomes.
KIND_OF_ACTION = {
    "credential.issued": "awarded",
    "credential.renewed": "renewed",
    "credential.revoked": "revoked",
}
_STEP = 5000  # audit events the relay reads at most per transaction


def _row(
    config: MailSettings,
    now: datetime,
    *,
    kind: str,
    credential_id: str,
    learner_id: str,
    to: str,
    key: str | None,
    details: dict[str, Any],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "credential_id": credential_id,
        "learner_id": learner_id,
        "to_address": to,
        "dedupe_key": key,
        "details": details,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "deadline_at": now + config.horizon,
        "created_at": now,
    }


def relay(session: Session, config: MailSettings, *, now: datetime) -> int:
    """Queue a message for each mailed audit event since the cursor (events older than
    ``max_age`` are passed over); returns how many audit seqs were consumed (0: caught up)."""
    cursor = repository.locked_cursor(session)
    upto = min(repository.chain_head(session), cursor.last_seq + _STEP)
    if upto <= cursor.last_seq:
        return 0
    found = repository.audit_events_between(session, cursor.last_seq, upto, list(KIND_OF_ACTION))
    recent = [e for e in found if e.at >= now - config.max_age]
    to = repository.addresses(session, [e.subject.partition(":")[2] for e in recent])
    rows = []
    for event in recent:
        credential_id = event.subject.partition(":")[2]
        if credential_id not in to:
            continue  # the learner gave no email
        learner_id, address = to[credential_id]
        details = {"reason": event.data.get("reason")} if event.action.endswith("revoked") else {}
        rows.append(
            _row(
                config,
                now,
                kind=KIND_OF_ACTION[event.action],
                credential_id=credential_id,
                learner_id=learner_id,
                to=address,
                key=f"audit:{event.seq}",
                details=details,
            )
        )
    repository.insert_messages(session, rows)
    consumed = upto - cursor.last_seq
    repository.save_cursor(session, cursor, upto, now)
    session.flush()
    return consumed


def scan_expiring(
    session: Session, config: MailSettings, thresholds_days: Sequence[int], *, now: datetime
) -> int:
    """Queue "expires soon" messages at the webhook thresholds (days, descending): once per
    credential and threshold, and only the smallest one crossed (a worker down past the 30-day
    mark of a credential with 5 days left sends the 7-day message only)."""
    rows = []
    for index, days in enumerate(thresholds_days):
        smaller = thresholds_days[index + 1] if index + 1 < len(thresholds_days) else 0
        for credential_id, learner_id, address, _ in repository.expiring(
            session,
            after=now + timedelta(days=smaller),
            until=now + timedelta(days=days),
            threshold=str(days),
        ):
            rows.append(
                _row(
                    config,
                    now,
                    kind="expiring",
                    credential_id=credential_id,
                    learner_id=learner_id,
                    to=address,
                    key=f"expiring:{credential_id}:{days}",
                    details={"threshold_days": days},
                )
            )
    repository.insert_messages(session, rows)
    session.flush()
    return len(rows)


def kind_now(credential: Credential) -> str:
    """The message that says where a credential stands now (a re-send)."""
    if credential.status == "revoked":
        return "revoked"
    return "renewed" if credential.renewal else "awarded"


def queue_resend(
    session: Session,
    config: MailSettings,
    credential: Credential,
    learner: Learner,
    *,
    now: datetime,
) -> MailMessage:
    """Queue the message that fits the credential's state now, again (no dedupe key)."""
    assert learner.email is not None
    kind = kind_now(credential)
    details = {"reason": credential.status_reason, "resent": True}
    row = MailMessage(
        **_row(
            config,
            now,
            kind=kind,
            credential_id=credential.id,
            learner_id=learner.id,
            to=learner.email,
            key=None,
            details=details if kind == "revoked" else {"resent": True},
        )
    )
    return repository.add_message(session, row)
