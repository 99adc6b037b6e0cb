"""The event catalogue: types, their small and stable payloads, and how audit events map to them.

A payload is ``{id, type, time, data}``; ``data`` holds ids and the fields a receiver needs to
act without calling back (never keys or secrets; the signed credential only for subscriptions
that ask for it with ``include_jwt``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, create_model

from service.models import AuditEvent

ISSUED: Final = "credential.issued"
RENEWED: Final = "credential.renewed"
REVOKED: Final = "credential.revoked"
SUSPENDED: Final = "credential.suspended"
REINSTATED: Final = "credential.reinstated"
EXPIRING: Final = "credential.expiring"
EXPIRED: Final = "credential.expired"
MANDATE_OVERDUE: Final = "mandate.overdue"
COMPLETION_RECEIVED: Final = "completion.received"

EVENT_TYPES = (
    ISSUED,
    RENEWED,
    REVOKED,
    SUSPENDED,
    REINSTATED,
    EXPIRING,
    EXPIRED,
    MANDATE_OVERDUE,
    COMPLETION_RECEIVED,
)
EventType = Literal[
    "credential.issued",
    "credential.renewed",
    "credential.revoked",
    "credential.suspended",
    "credential.reinstated",
    "credential.expiring",
    "credential.expired",
    "mandate.overdue",
    "completion.received",
]
#: What a subscription gets when it names no events (completion.received is opt-in: it is busy).
DEFAULT_EVENTS: tuple[EventType, ...] = (
    ISSUED,
    RENEWED,
    REVOKED,
    SUSPENDED,
    REINSTATED,
    EXPIRING,
    EXPIRED,
    MANDATE_OVERDUE,
)

#: Audit actions that are webhook events, by audit action.
FROM_AUDIT = {
    ISSUED: ISSUED,
    RENEWED: RENEWED,
    REVOKED: REVOKED,
    SUSPENDED: SUSPENDED,
    REINSTATED: REINSTATED,
    "completion.recorded": COMPLETION_RECEIVED,
}
STATUS_EVENTS = (REVOKED, SUSPENDED, REINSTATED)
CARRIES_JWT = (ISSUED, RENEWED)

_NAMESPACE = uuid.UUID("6f1c0b52-9c3e-4a51-8d1e-5a0c7e2b9d44")


def event_id(key: str) -> str:
    """A stable event id (the ``webhook-id`` of every delivery and retry of the event)."""
    return "evt_" + uuid.uuid5(_NAMESPACE, key).hex


def audit_event_id(seq: int) -> str:
    return event_id(f"audit:{seq}")


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_text(text: str | None) -> str | None:
    """Normalise an ISO 8601 string from the audit data to the payload's UTC ``Z`` form."""
    return iso(datetime.fromisoformat(text)) if text else None


def render(event_id: str, event_type: str, time: datetime, data: dict[str, Any]) -> str:
    """The body sent for an event, byte for byte the same on every attempt."""
    envelope = {"id": event_id, "type": event_type, "time": iso(time), "data": data}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def with_credential(
    body: str, *, jwt: str | None = None, data_integrity: dict[str, Any] | None = None
) -> str:
    """The event body with the credential's forms a subscription asked for added to ``data``
    (``jwt``: the VC-JWT; ``data_integrity``: the Data Integrity form)."""
    if jwt is None and data_integrity is None:
        return body
    envelope = json.loads(body)
    if jwt is not None:
        envelope["data"]["jwt"] = jwt
    if data_integrity is not None:
        envelope["data"]["data_integrity"] = data_integrity
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def from_audit(
    event: AuditEvent, valid_until: dict[str, str | None]
) -> tuple[str, str, dict[str, Any]] | None:
    """(type, subject, data) for an audit event that is a webhook event, else None.

    ``valid_until`` maps credential ids to their expiry for status changes (the audit data of a
    status change does not repeat it; a credential's validity never changes)."""
    event_type = FROM_AUDIT.get(event.action)
    if event_type is None:
        return None
    kind, _, subject_id = event.subject.partition(":")
    source = event.data
    if event_type == COMPLETION_RECEIVED:
        return (
            event_type,
            event.subject,
            {
                "completion": subject_id,
                "learner": source.get("learner"),
                "course": source.get("course"),
                "completed_at": iso_text(source.get("completed_at")),
                "score": source.get("score"),
                "passed": source.get("passed"),
                "external_id": source.get("external_id"),
            },
        )
    if kind != "credential":
        return None
    data: dict[str, Any] = {
        "credential": subject_id,
        "learner": source.get("learner"),
        "level": source.get("level"),
    }
    if event_type in STATUS_EVENTS:
        data["valid_until"] = valid_until.get(subject_id)
        data["reason"] = source.get("reason")
    else:
        data["level_version"] = source.get("version")
        data["valid_from"] = iso_text(source.get("valid_from"))
        data["valid_until"] = iso_text(source.get("valid_until"))
        data["supersedes"] = source.get("supersedes")
        data["manual"] = "manual" in source
    return event_type, event.subject, data


# --- payload documentation (OpenAPI `webhooks` and the README) --------------------------------


class CredentialIssuedData(BaseModel):
    credential: str = Field(description="credential id (urn:uuid:...)")
    learner: str
    level: str = Field(description="track/level id")
    level_version: int
    valid_from: datetime
    valid_until: datetime | None = Field(description="null when the level never expires")
    supersedes: str | None = Field(description="the credential a renewal replaces")
    manual: bool = Field(description="awarded by hand rather than earned")
    jwt: str | None = Field(
        default=None, description="the signed VC-JWT, only for subscriptions with include_jwt"
    )
    data_integrity: dict[str, Any] | None = Field(
        default=None,
        description="the credential's Data Integrity form, only for subscriptions with "
        "include_data_integrity",
    )


class CredentialStatusData(BaseModel):
    credential: str
    learner: str
    level: str
    valid_until: datetime | None
    reason: str | None


class CredentialExpiringData(BaseModel):
    credential: str
    learner: str
    level: str
    valid_until: datetime
    threshold_days: int = Field(description="the threshold crossed (30 and 7 by default)")
    days_left: int


class CredentialExpiredData(BaseModel):
    credential: str
    learner: str
    level: str
    valid_until: datetime


class MandateOverdueData(BaseModel):
    learner: str
    role: str
    level: str = Field(description="the level the role must hold and the learner does not")
    role_since: datetime
    due_at: datetime


class CompletionReceivedData(BaseModel):
    completion: str
    learner: str
    course: str
    completed_at: datetime
    score: float | None
    passed: bool
    external_id: str | None


EVENT_DOCS: dict[str, tuple[type[BaseModel], str]] = {
    ISSUED: (CredentialIssuedData, "A learner earned (or was awarded) a level."),
    RENEWED: (CredentialIssuedData, "A credential was renewed; `supersedes` names the old one."),
    REVOKED: (CredentialStatusData, "A credential was revoked (permanent)."),
    SUSPENDED: (CredentialStatusData, "A credential was suspended."),
    REINSTATED: (CredentialStatusData, "A suspension was lifted."),
    EXPIRING: (
        CredentialExpiringData,
        "An active credential is within a threshold of expiry (once per threshold).",
    ),
    EXPIRED: (CredentialExpiredData, "An active credential reached its valid_until (once)."),
    MANDATE_OVERDUE: (
        MandateOverdueData,
        "A learner's role requires a level they did not reach in time (once per assignment).",
    ),
    COMPLETION_RECEIVED: (
        CompletionReceivedData,
        "A completion was recorded (delivered only to subscriptions that name it).",
    ),
}


def _model_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in event_type.split(".")) + "Event"


def event_model(event_type: str) -> type[BaseModel]:
    """The envelope model documenting one event type."""
    data_model, doc = EVENT_DOCS[event_type]
    model: type[BaseModel] = create_model(
        _model_name(event_type),
        __doc__=doc,
        id=(str, Field(description="stable event id; also the webhook-id header")),
        type=(Literal[event_type], ...),  # type: ignore[valid-type,arg-type,unused-ignore]
        time=(datetime, Field(description="when the event happened (UTC)")),
        data=(data_model, ...),
    )
    return model
