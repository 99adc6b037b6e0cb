"""Build OB 3.0 ``OpenBadgeCredential`` documents from typed inputs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from credentials._encoding import format_datetime
from credentials.errors import MisuseError
from credentials.lint import (
    OB_CONTEXT,
    OB_EXTENSIONS_CONTEXT,
    OB_SCHEMA_URL,
    VCDM2_CONTEXT,
    lint_credential,
)
from credentials.model import Achievement, Evidence, IdentityObject, IssuerProfile, StatusEntry

__all__ = ["CREDENTIAL_SCHEMA", "build_credential", "new_urn_uuid"]

CREDENTIAL_SCHEMA: tuple[tuple[str, str], ...] = (
    (OB_SCHEMA_URL, "1EdTechJsonSchemaValidator2019"),
)
"""The ``credentialSchema`` entries every credential carries, as ``(id, type)`` pairs."""


def new_urn_uuid() -> str:
    """Return a fresh random ``urn:uuid:`` identifier."""
    return uuid.uuid4().urn


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise MisuseError(f"{name} must be a timezone-aware datetime")
    return value


def build_credential(
    *,
    issuer: IssuerProfile,
    achievement: Achievement,
    valid_from: datetime,
    subject_id: str | None = None,
    identifiers: Sequence[IdentityObject] = (),
    evidence: Sequence[Evidence] = (),
    valid_until: datetime | None = None,
    awarded_date: datetime | None = None,
    status: Sequence[StatusEntry] = (),
    credential_id: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Build an OB 3.0 ``OpenBadgeCredential`` (unsigned JSON) and lint it.

    Args:
        issuer: the issuing organisation.
        achievement: what was earned (the level version).
        valid_from: when the credential becomes valid (tz-aware); also ``awardedDate`` unless
            ``awarded_date`` is given. Dates are written in UTC with ``Z``, whole seconds.
        subject_id: the holder's URI (e.g. ``urn:uuid:`` or a DID); becomes the JWT ``sub``.
        identifiers: recipient identifiers; at least one of ``subject_id`` / ``identifiers``.
        evidence: evidence items (the completions that counted).
        valid_until: end of validity (tz-aware), or ``None`` for no expiry.
        awarded_date: when it was awarded, if different from ``valid_from``.
        status: status-list entries. One entry is written as an object, several as an
            array (VCDM 2.0; see the note in the package docstring about the OB 3.0 schema).
        credential_id: the credential URI; a fresh ``urn:uuid:`` by default.
        name: display name of the credential; the achievement name by default.
        description: display description of the credential.

    Returns:
        The credential as a JSON-ready dict, keys in a stable, readable order.

    Raises:
        MisuseError: naive datetimes or neither ``subject_id`` nor ``identifiers``.
        LintError: the inputs do not make a valid credential (e.g. a non-URI id).
    """
    _aware(valid_from, "valid_from")
    if valid_until is not None:
        _aware(valid_until, "valid_until")
    if awarded_date is not None:
        _aware(awarded_date, "awarded_date")
    if subject_id is None and not identifiers:
        raise MisuseError("give a subject_id or at least one identifier")
    subject: dict[str, Any] = {}
    if subject_id is not None:
        subject["id"] = subject_id
    subject["type"] = ["AchievementSubject"]
    if identifiers:
        subject["identifier"] = [identity.to_json() for identity in identifiers]
    subject["achievement"] = achievement.to_json()

    doc: dict[str, Any] = {
        "@context": [VCDM2_CONTEXT, OB_CONTEXT, OB_EXTENSIONS_CONTEXT],
        "id": credential_id if credential_id is not None else new_urn_uuid(),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": name if name is not None else achievement.name,
    }
    if description is not None:
        doc["description"] = description
    doc["issuer"] = issuer.to_json()
    doc["validFrom"] = format_datetime(valid_from)
    if valid_until is not None:
        doc["validUntil"] = format_datetime(valid_until)
    doc["awardedDate"] = format_datetime(awarded_date if awarded_date is not None else valid_from)
    doc["credentialSubject"] = subject
    if evidence:
        doc["evidence"] = [item.to_json() for item in evidence]
    doc["credentialSchema"] = [{"id": sid, "type": stype} for sid, stype in CREDENTIAL_SCHEMA]
    if len(status) == 1:
        doc["credentialStatus"] = status[0].to_json()
    elif status:
        doc["credentialStatus"] = [entry.to_json() for entry in status]
    lint_credential(doc)
    return doc
