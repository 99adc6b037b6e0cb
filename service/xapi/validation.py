"""Statement validation to the xAPI 1.0.3 rules (and 2.0.0's additions), and the canonical hash.

Hand-written rather than a pydantic model so that every problem names the statement and the
field as a client would write it (``statements[3].actor.mbox``). Every object is checked
against the properties xAPI defines for it, at any depth (a property xAPI does not define is an
error, as is a null); only extensions are open. The objects themselves are in
:mod:`service.xapi.objects`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from credentials.audit import canonical_json
from service.core.times import RANGE_TEXT, parse_instant
from service.errors import ServiceError
from service.xapi import objects
from service.xapi.objects import UUID_PATTERN, Actor, Errors, closed, is_iri, is_uuid

__all__ = ["UUID_PATTERN", "Actor", "AttachmentRef", "InvalidStatement", "Statement"]

VERB_PASSED = "http://adlnet.gov/expapi/verbs/passed"
VERB_COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
VERB_VOIDED = "http://adlnet.gov/expapi/verbs/voided"
COMPLETION_VERBS = frozenset({VERB_PASSED, VERB_COMPLETED})

FUTURE_SKEW = timedelta(minutes=5)

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
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
_RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
_SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_KEYS = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
)
#: xAPI 2.0.0 adds these to context (accepted when the request speaks 2.0.0).
_CONTEXT_KEYS_2 = frozenset({"contextAgents", "contextGroups"})
_CONTEXT_ACTIVITY_KINDS = frozenset({"parent", "grouping", "category", "other"})
_ATTACHMENT_KEYS = frozenset(
    {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
)
#: Set by an LRS on the way (so a forwarded copy may differ in them): not part of the content.
_NOT_CONTENT = ("id", "authority", "stored", "version")


class InvalidStatement(ServiceError):
    status = 400
    type = "invalid-statement"
    title = "The xAPI statement is not valid"


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """An attachment a statement declares: its data arrives as a multipart part with this
    ``sha2`` unless ``file_url`` says where it lives."""

    sha2: str  # lowercased
    content_type: str
    file_url: bool
    where: str  # e.g. attachments[0], object.attachments[1]


@dataclass(frozen=True, slots=True)
class Statement:
    """A valid statement, reduced to what the mapping needs, and the statement itself."""

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
    raw: dict[str, Any] = field(compare=False)
    #: the actor's and (for an Agent or Group object) the object's agent keys
    agent_keys: tuple[str, ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()


def validate_statement(
    raw: Any,
    *,
    location: str,
    now: datetime,
    statement_id: str | None = None,
    version: str = "1.0.3",
) -> Statement:
    """Validate one statement; raise :class:`InvalidStatement` naming every bad field.

    ``statement_id`` is the PUT's ``statementId``: the body's id, when present, must equal it.
    ``version`` is the request's X-Experience-API-Version (2.0.0 allows its context additions).
    """
    errors = Errors(location)
    if not isinstance(raw, dict):
        errors.add("", "a statement is a JSON object")
        _raise(errors)
    closed(raw, _STATEMENT_KEYS, "", errors)
    sid = raw.get("id")
    assigned = False
    if sid is None:
        if statement_id is not None:
            sid = statement_id
        else:
            sid, assigned = str(uuid.uuid4()), True
    elif not is_uuid(sid):
        errors.add("id", "must be a UUID")
    elif statement_id is not None and sid.lower() != statement_id:
        errors.add("id", f"must match the statementId parameter {statement_id}")
    two = version.startswith("2.")
    actor = objects.actor(raw.get("actor"), "actor", errors, required=True)
    verb_id = objects.verb(raw.get("verb"), "verb", errors)
    object_type, object_id, object_actor = _object(raw.get("object"), "object", errors, two=two)
    if verb_id == VERB_VOIDED and object_type != "StatementRef":
        errors.add("object.objectType", "a voiding statement's object must be a StatementRef")
    success, score = _result(raw.get("result"), "result", errors)
    _context(raw.get("context"), "context", errors, two=two)
    timestamp = _time(raw.get("timestamp"), "timestamp", errors, latest=now + FUTURE_SKEW)
    stored = _time(raw.get("stored"), "stored", errors)
    if raw.get("authority") is not None:
        objects.actor(raw["authority"], "authority", errors, required=True)
    statement_version = raw.get("version")
    if statement_version is not None and not (
        isinstance(statement_version, str) and _VERSION.match(statement_version)
    ):
        errors.add("version", "must be a 1.0.x or 2.0.x version")
    attachments = _attachments(raw.get("attachments"), "attachments", errors)
    if object_type == "SubStatement":
        sub = raw["object"].get("attachments")
        attachments += _attachments(sub, "object.attachments", errors)
    content = {k: v for k, v in raw.items() if k not in _NOT_CONTENT}
    try:
        digest = hashlib.sha256(canonical_json(content)).hexdigest()
    except ValueError:  # NaN or Infinity, which Python's JSON parser lets through
        errors.add("", "contains a number that is not finite (NaN or Infinity)")
    if errors.items:
        _raise(errors)
    assert actor is not None and verb_id is not None and object_id is not None
    keys = actor.keys + (object_actor.keys if object_actor is not None else ())
    return Statement(
        id=sid.lower(),
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
        raw=raw,
        agent_keys=tuple(dict.fromkeys(keys)),
        attachments=attachments,
    )


def _raise(errors: Errors) -> Any:
    first = errors.items[0]
    detail = f"{first['location']}: {first['message']}"
    if len(errors.items) > 1:
        detail += f" (and {len(errors.items) - 1} more)"
    raise InvalidStatement(detail, errors=errors.items, field=first["location"])


def _object(
    value: Any, field: str, errors: Errors, *, two: bool, sub: bool = False
) -> tuple[str | None, str | None, Actor | None]:
    """(objectType, the id the mapping uses, the Agent or Group when the object is one)."""
    if not isinstance(value, dict):
        errors.add(field, "is required and must be an object")
        return None, None, None
    object_type = value.get("objectType", "Activity")
    if object_type == "Activity":
        return object_type, objects.activity(value, field, errors), None
    if object_type in ("Agent", "Group"):
        found = objects.actor(value, field, errors, required=True)
        if found is None:
            return object_type, None, None
        return object_type, found.mbox or found.account_name or "agent", found
    if object_type == "StatementRef":
        return object_type, objects.statement_ref(value, field, errors), None
    if object_type == "SubStatement" and not sub:
        closed(value, _SUBSTATEMENT_KEYS, field, errors)
        objects.actor(value.get("actor"), f"{field}.actor", errors, required=True)
        objects.verb(value.get("verb"), f"{field}.verb", errors)
        _object(value.get("object"), f"{field}.object", errors, two=two, sub=True)
        _result(value.get("result"), f"{field}.result", errors)
        _context(value.get("context"), f"{field}.context", errors, two=two)
        # a SubStatement may describe a future event: no future check on its timestamp
        _time(value.get("timestamp"), f"{field}.timestamp", errors)
        return object_type, "substatement", None
    errors.add(
        f"{field}.objectType",
        "must be Activity, Agent, Group or StatementRef"
        + ("" if sub else " or SubStatement")
        + ("" if object_type != "SubStatement" else " (a SubStatement cannot nest one)"),
    )
    return None, None, None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _result(value: Any, field: str, errors: Errors) -> tuple[bool | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        errors.add(field, "must be an object")
        return None, None
    closed(value, _RESULT_KEYS, field, errors)
    for flag in ("success", "completion"):
        if value.get(flag) is not None and not isinstance(value[flag], bool):
            errors.add(f"{field}.{flag}", "must be true or false")
    if value.get("response") is not None and not isinstance(value["response"], str):
        errors.add(f"{field}.response", "must be a string")
    if value.get("duration") is not None and not (
        isinstance(value["duration"], str) and value["duration"].startswith("P")
    ):
        errors.add(f"{field}.duration", "must be an ISO 8601 duration")
    objects.extensions(value.get("extensions"), f"{field}.extensions", errors)
    success = value.get("success") if isinstance(value.get("success"), bool) else None
    score = value.get("score")
    if score is None:
        return success, None
    if not isinstance(score, dict):
        errors.add(f"{field}.score", "must be an object")
        return success, None
    closed(score, _SCORE_KEYS, f"{field}.score", errors)
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


def _context(value: Any, field: str, errors: Errors, *, two: bool) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(field, "must be an object")
        return
    closed(value, _CONTEXT_KEYS | _CONTEXT_KEYS_2, field, errors)
    if value.get("registration") is not None and not is_uuid(value["registration"]):
        errors.add(f"{field}.registration", "must be a UUID")
    if value.get("instructor") is not None:
        objects.actor(value["instructor"], f"{field}.instructor", errors, required=True)
    team = value.get("team")
    if team is not None:
        if isinstance(team, dict) and team.get("objectType") != "Group":
            errors.add(f"{field}.team.objectType", "a team is a Group")
        else:
            objects.actor(team, f"{field}.team", errors, required=True)
    for text in ("revision", "platform", "language"):
        if value.get(text) is not None and not isinstance(value[text], str):
            errors.add(f"{field}.{text}", "must be a string")
    activities = value.get("contextActivities")
    if activities is not None:
        if not isinstance(activities, dict):
            errors.add(f"{field}.contextActivities", "must be an object")
        else:
            for kind, items in activities.items():
                where = f"{field}.contextActivities.{kind}"
                if kind not in _CONTEXT_ACTIVITY_KINDS:
                    errors.add(where, "must be parent, grouping, category or other")
                    continue
                if items is None:
                    errors.add(where, "must not be null")
                    continue
                for i, item in enumerate(items if isinstance(items, list) else [items]):
                    if not isinstance(item, dict):
                        errors.add(f"{where}[{i}]", "must be an Activity")
                    elif item.get("objectType", "Activity") != "Activity":
                        errors.add(f"{where}[{i}].objectType", "must be Activity")
                    else:
                        objects.activity(item, f"{where}[{i}]", errors)
    ref = value.get("statement")
    if ref is not None:
        if not isinstance(ref, dict):
            errors.add(f"{field}.statement", "must be a StatementRef with a UUID id")
        else:
            objects.statement_ref(ref, f"{field}.statement", errors)
    objects.extensions(value.get("extensions"), f"{field}.extensions", errors)
    for name, inner in (("contextAgents", "agent"), ("contextGroups", "group")):
        if value.get(name) is None:
            continue
        if not two:
            errors.add(
                f"{field}.{name}",
                "is an xAPI 2.0.0 property: send X-Experience-API-Version: 2.0.0 to use it",
            )
            continue
        _context_actors(value[name], f"{field}.{name}", inner, errors)


def _context_actors(value: Any, field: str, inner: str, errors: Errors) -> None:
    """xAPI 2.0.0 contextAgents / contextGroups: [{objectType, agent|group, relevantTypes}]."""
    object_type = "contextAgent" if inner == "agent" else "contextGroup"
    if not isinstance(value, list):
        errors.add(field, f"must be an array of {object_type} objects")
        return
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors.add(where, f"must be a {object_type} object")
            continue
        closed(item, frozenset({"objectType", inner, "relevantTypes"}), where, errors)
        if item.get("objectType") != object_type:
            errors.add(f"{where}.objectType", f"must be {object_type}")
        who = item.get(inner)
        if inner == "group" and isinstance(who, dict) and who.get("objectType") != "Group":
            errors.add(f"{where}.group.objectType", "must be Group")
        else:
            objects.actor(who, f"{where}.{inner}", errors, required=True, group_ok=inner == "group")
        types = item.get("relevantTypes")
        if types is not None and (
            not isinstance(types, list) or not types or not all(is_iri(t) for t in types)
        ):
            errors.add(f"{where}.relevantTypes", "must be a non-empty array of IRIs")


def _attachments(value: Any, field: str, errors: Errors) -> tuple[AttachmentRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.add(field, "must be an array")
        return ()
    found: list[AttachmentRef] = []
    for i, item in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(item, dict):
            errors.add(where, "must be an attachment object")
            continue
        closed(item, _ATTACHMENT_KEYS, where, errors)
        if not is_iri(item.get("usageType")):
            errors.add(f"{where}.usageType", "must be an IRI")
        if not isinstance(item.get("display"), dict):
            errors.add(f"{where}.display", "is required: a language map")
        objects.language_map(item.get("display"), f"{where}.display", errors)
        objects.language_map(item.get("description"), f"{where}.description", errors)
        content_type = item.get("contentType")
        if not isinstance(content_type, str) or not content_type:
            errors.add(f"{where}.contentType", "must be an Internet Media Type")
        length = item.get("length")
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            errors.add(f"{where}.length", "must be a non-negative integer (octets)")
        sha2 = item.get("sha2")
        if not isinstance(sha2, str) or not sha2:
            errors.add(f"{where}.sha2", "must be the SHA-2 hash of the data")
        file_url = item.get("fileUrl")
        if file_url is not None and not is_iri(file_url):
            errors.add(f"{where}.fileUrl", "must be an IRL")
        if isinstance(sha2, str) and sha2 and isinstance(content_type, str):
            found.append(AttachmentRef(sha2.lower(), content_type, file_url is not None, where))
    return tuple(found)


def _time(
    value: Any, field: str, errors: Errors, *, latest: datetime | None = None
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
    if latest is not None and parsed > latest:
        errors.add(field, "is more than 5 minutes in the future")
        return None
    return parsed
