"""Statement validation to the xAPI 1.0.3 rules that matter here, and the canonical hash.

Hand-written rather than a pydantic model so that every problem names the statement and the
field as a client would write it (``statements[3].actor.mbox``) and so that the many optional,
open-ended parts of a statement (extensions, definitions, context activities) pass untouched.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from credentials.audit import canonical_json
from service.core.times import RANGE_TEXT, parse_instant
from service.errors import ServiceError

VERB_PASSED = "http://adlnet.gov/expapi/verbs/passed"
VERB_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERB_VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COMPLETION_VERBS = frozenset({VERB_PASSED, VERB_COMPLETED})

FUTURE_SKEW = timedelta(minutes=5)
MAX_IRI = 2048
MAX_VERB_IRI = 500

UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_MBOX = re.compile(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_VERSION = re.compile(r"^(1\.0(\.\d+)?|2\.0(\.\d+)?)$")

_STATEMENT_KEYS = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
_SUBSTATEMENT_KEYS = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp"}
)
#: Set by an LRS on the way (so a forwarded copy may differ in them): not part of the content.
_NOT_CONTENT = ("id", "authority", "stored", "version")
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


class InvalidStatement(ServiceError):
    status = 400
    type = "invalid-statement"
    title = "The xAPI statement is not valid"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "agent" | "group"
    mbox: str | None  # the email, without mailto:, lowercased
    account_name: str | None
    name: str | None


@dataclass(frozen=True, slots=True)
class Statement:
    """A valid statement, reduced to what the mapping needs."""

    id: str
    id_assigned: bool
    content_hash: str
    actor: Actor
    verb_id: str
    object_type: str  # Activity | Agent | Group | StatementRef | SubStatement
    object_id: str
    timestamp: datetime | None
    stored: datetime | None
    success: bool | None
    score: float | None  # 0..100, from scaled or raw/min/max


class _Errors:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, message: str) -> None:
        location = f"{self.prefix}.{field}" if field else self.prefix
        self.items.append({"location": location, "message": message, "type": "xapi"})


def validate_statement(
    raw: Any, *, location: str, now: datetime, statement_id: str | None = None
) -> Statement:
    """Validate one statement; raise :class:`InvalidStatement` naming every bad field.

    ``statement_id`` is the PUT's ``statementId``: the body's id, when present, must equal it.
    """
    errors = _Errors(location)
    if not isinstance(raw, dict):
        errors.add("", "a statement is a JSON object")
        _raise(errors)
    for key, value in raw.items():
        if key not in _STATEMENT_KEYS:
            errors.add(key, "is not a statement property")
        elif value is None:
            errors.add(key, "must not be null")
    sid = raw.get("id")
    assigned = False
    if sid is None:
        if statement_id is not None:
            sid = statement_id
        else:
            sid, assigned = str(uuid.uuid4()), True
    elif not _is_uuid(sid):
        errors.add("id", "must be a UUID")
    elif statement_id is not None and sid.lower() != statement_id:
        errors.add("id", f"must match the statementId parameter {statement_id}")
    actor = _actor(raw.get("actor"), "actor", errors, required=True)
    verb_id = _verb(raw.get("verb"), "verb", errors)
    object_type, object_id = _object(raw.get("object"), "object", errors, sub=False)
    if verb_id == VERB_VOIDED and object_type != "StatementRef":
        errors.add("object.objectType", "a voiding statement's object must be a StatementRef")
    success, score = _result(raw.get("result"), "result", errors)
    _context(raw.get("context"), "context", errors)
    timestamp = _time(raw.get("timestamp"), "timestamp", errors, now=now, future_check=True)
    stored = _time(raw.get("stored"), "stored", errors, now=now, future_check=False)
    if "authority" in raw and raw["authority"] is not None:
        _actor(raw["authority"], "authority", errors, required=True)
    version = raw.get("version")
    if version is not None and not (isinstance(version, str) and _VERSION.match(version)):
        errors.add("version", "must be a 1.0.x or 2.0.x version")
    if "attachments" in raw and not isinstance(raw["attachments"], list):
        errors.add("attachments", "must be an array")
    content = {k: v for k, v in raw.items() if k not in _NOT_CONTENT}
    try:
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
    except ValueError:  # NaN or Infinity, which Python's JSON parser lets through
        errors.add("", "contains a number that is not finite (NaN or Infinity)")
    if errors.items:
        _raise(errors)
    assert actor is not None and verb_id is not None and object_id is not None
    sid = sid.lower()
    return Statement(
        id=sid,
        id_assigned=assigned,
        content_hash=digest,
        actor=actor,
        verb_id=verb_id,
        object_type=object_type or "Activity",
        object_id=object_id,
        timestamp=timestamp,
        stored=stored,
        success=success,
        score=score,
    )


def _raise(errors: _Errors) -> Any:
    first = errors.items[0]
    detail = f"{first['location']}: {first['message']}"
    if len(errors.items) > 1:
        detail += f" (and {len(errors.items) - 1} more)"
    raise InvalidStatement(detail, errors=errors.items, field=first["location"])


def _is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_PATTERN.match(value))


def _is_iri(value: Any, max_length: int = MAX_IRI) -> bool:
    return isinstance(value, str) and len(value) <= max_length and bool(_IRI.match(value))


def _actor(value: Any, field: str, errors: _Errors, *, required: bool) -> Actor | None:
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(value, dict):
        errors.add(field, "must be an object (an Agent or a Group)")
        return None
    object_type = value.get("objectType", "Agent")
    if object_type not in ("Agent", "Group"):
        errors.add(f"{field}.objectType", "must be Agent or Group")
        return None
    present = [ifi for ifi in _IFIS if value.get(ifi) is not None]
    members = value.get("member")
    if object_type == "Group" and not present:
        if not isinstance(members, list) or not members:
            errors.add(field, "an anonymous Group needs a member array")
    elif len(present) != 1:
        found = ", ".join(present) or "none"
        errors.add(
            field, f"needs exactly one of mbox, mbox_sha1sum, openid, account (found: {found})"
        )
        return None
    if isinstance(members, list):
        for i, member in enumerate(members):
            if isinstance(member, dict) and member.get("objectType", "Agent") != "Agent":
                errors.add(f"{field}.member[{i}]", "group members are Agents")
            else:
                _actor(member, f"{field}.member[{i}]", errors, required=True)
    name = value.get("name")
    if name is not None and not isinstance(name, str):
        errors.add(f"{field}.name", "must be a string")
        name = None
    mbox = account_name = None
    if value.get("mbox") is not None:
        text = value["mbox"]
        if not isinstance(text, str) or not _MBOX.match(text):
            errors.add(f"{field}.mbox", "must be mailto: followed by an email address")
        else:
            mbox = text[len("mailto:") :].lower()
    if value.get("mbox_sha1sum") is not None and not (
        isinstance(value["mbox_sha1sum"], str) and _SHA1.match(value["mbox_sha1sum"])
    ):
        errors.add(f"{field}.mbox_sha1sum", "must be 40 hexadecimal characters")
    if value.get("openid") is not None and not _is_iri(value["openid"]):
        errors.add(f"{field}.openid", "must be an IRI")
    account = value.get("account")
    if account is not None:
        if not isinstance(account, dict):
            errors.add(f"{field}.account", "must be an object with homePage and name")
        else:
            if not _is_iri(account.get("homePage")):
                errors.add(f"{field}.account.homePage", "must be an IRL")
            if not isinstance(account.get("name"), str) or not account["name"]:
                errors.add(f"{field}.account.name", "must be a non-empty string")
            else:
                account_name = account["name"]
    kind = "group" if object_type == "Group" else "agent"
    return Actor(kind, mbox, account_name, name if isinstance(name, str) else None)


def _language_map(value: Any, field: str, errors: _Errors) -> None:
    if value is not None and (
        not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
    ):
        errors.add(field, "must be a language map (language tag → string)")


def _verb(value: Any, field: str, errors: _Errors) -> str | None:
    if not isinstance(value, dict):
        errors.add(field, "is required and must be an object with an id")
        return None
    _language_map(value.get("display"), f"{field}.display", errors)
    if not _is_iri(value.get("id"), MAX_VERB_IRI):
        errors.add(f"{field}.id", "must be an IRI")
        return None
    verb_id: str = value["id"]
    return verb_id


def _extensions(value: Any, field: str, errors: _Errors) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(field, "must be an object keyed by IRIs")
        return
    for key in value:
        if not _is_iri(key):
            errors.add(f"{field}", f"extension key {key!r} is not an IRI")


def _activity(value: dict[str, Any], field: str, errors: _Errors) -> str | None:
    definition = value.get("definition")
    if definition is not None:
        if not isinstance(definition, dict):
            errors.add(f"{field}.definition", "must be an object")
        else:
            _language_map(definition.get("name"), f"{field}.definition.name", errors)
            _language_map(definition.get("description"), f"{field}.definition.description", errors)
            if definition.get("type") is not None and not _is_iri(definition["type"]):
                errors.add(f"{field}.definition.type", "must be an IRI")
            _extensions(definition.get("extensions"), f"{field}.definition.extensions", errors)
    if not _is_iri(value.get("id")):
        errors.add(f"{field}.id", "must be an IRI")
        return None
    activity_id: str = value["id"]
    return activity_id


def _object(value: Any, field: str, errors: _Errors, *, sub: bool) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        errors.add(field, "is required and must be an object")
        return None, None
    object_type = value.get("objectType", "Activity")
    if object_type == "Activity":
        return object_type, _activity(value, field, errors)
    if object_type in ("Agent", "Group"):
        actor = _actor(value, field, errors, required=True)
        return object_type, (actor.mbox or actor.account_name or "agent") if actor else None
    if object_type == "StatementRef":
        if not _is_uuid(value.get("id")):
            errors.add(f"{field}.id", "a StatementRef's id must be a UUID")
            return object_type, None
        return object_type, str(value["id"]).lower()
    if object_type == "SubStatement" and not sub:
        for key in value:
            if key not in _SUBSTATEMENT_KEYS:
                errors.add(f"{field}.{key}", "is not a SubStatement property")
        _actor(value.get("actor"), f"{field}.actor", errors, required=True)
        _verb(value.get("verb"), f"{field}.verb", errors)
        _object(value.get("object"), f"{field}.object", errors, sub=True)
        _result(value.get("result"), f"{field}.result", errors)
        _context(value.get("context"), f"{field}.context", errors)
        return object_type, "substatement"
    errors.add(
        f"{field}.objectType", "must be Activity, Agent, Group, StatementRef or SubStatement"
    )
    return None, None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _result(value: Any, field: str, errors: _Errors) -> tuple[bool | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        errors.add(field, "must be an object")
        return None, None
    for flag in ("success", "completion"):
        if value.get(flag) is not None and not isinstance(value[flag], bool):
            errors.add(f"{field}.{flag}", "must be true or false")
    if value.get("response") is not None and not isinstance(value["response"], str):
        errors.add(f"{field}.response", "must be a string")
    if value.get("duration") is not None and not (
        isinstance(value["duration"], str) and value["duration"].startswith("P")
    ):
        errors.add(f"{field}.duration", "must be an ISO 8601 duration")
    _extensions(value.get("extensions"), f"{field}.extensions", errors)
    success = value.get("success") if isinstance(value.get("success"), bool) else None
    score = value.get("score")
    if score is None:
        return success, None
    if not isinstance(score, dict):
        errors.add(f"{field}.score", "must be an object")
        return success, None
    for part in ("scaled", "raw", "min", "max"):
        if score.get(part) is not None and not _number(score[part]):
            errors.add(f"{field}.score.{part}", "must be a number")
            return success, None
    scaled, raw, low, high = (score.get(p) for p in ("scaled", "raw", "min", "max"))
    if scaled is not None and not -1 <= scaled <= 1:
        errors.add(f"{field}.score.scaled", "must be between -1 and 1")
    if low is not None and high is not None and not low < high:
        errors.add(f"{field}.score.max", "must be greater than min")
    elif raw is not None and ((low is not None and raw < low) or (high is not None and raw > high)):
        errors.add(f"{field}.score.raw", "must lie between min and max")
    if scaled is not None and -1 <= scaled <= 1:
        return success, round(max(scaled, 0) * 100, 4)
    if (
        raw is not None
        and low is not None
        and high is not None
        and low < high
        and low <= raw <= high
    ):
        return success, round((raw - low) / (high - low) * 100, 4)
    return success, None


def _context(value: Any, field: str, errors: _Errors) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(field, "must be an object")
        return
    if value.get("registration") is not None and not _is_uuid(value["registration"]):
        errors.add(f"{field}.registration", "must be a UUID")
    if value.get("instructor") is not None:
        _actor(value["instructor"], f"{field}.instructor", errors, required=True)
    if value.get("team") is not None:
        _actor(value["team"], f"{field}.team", errors, required=True)
    activities = value.get("contextActivities")
    if activities is not None:
        if not isinstance(activities, dict):
            errors.add(f"{field}.contextActivities", "must be an object")
        else:
            for kind, items in activities.items():
                where = f"{field}.contextActivities.{kind}"
                if kind not in ("parent", "grouping", "category", "other"):
                    errors.add(where, "must be parent, grouping, category or other")
                    continue
                for i, item in enumerate(items if isinstance(items, list) else [items]):
                    if not isinstance(item, dict):
                        errors.add(f"{where}[{i}]", "must be an Activity")
                    else:
                        _activity(item, f"{where}[{i}]", errors)
    if value.get("statement") is not None:
        ref = value["statement"]
        if not isinstance(ref, dict) or not _is_uuid(ref.get("id")):
            errors.add(f"{field}.statement", "must be a StatementRef with a UUID id")
    _extensions(value.get("extensions"), f"{field}.extensions", errors)


def _time(
    value: Any, field: str, errors: _Errors, *, now: datetime, future_check: bool
) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(field, "must be an ISO 8601 timestamp")
        return None
    try:
        parsed = parse_instant(value)
    except ValueError:
        errors.add(field, f"must be an ISO 8601 timestamp {RANGE_TEXT}")
        return None
    # A timestamp without a zone is read as UTC (xAPI only recommends sending one).
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if future_check and parsed > now + FUTURE_SKEW:
        errors.add(field, "is more than 5 minutes in the future")
        return None
    return parsed
