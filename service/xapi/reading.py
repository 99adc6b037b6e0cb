"""``GET /xapi/statements`` (xAPI 1.0.3 Communication 2.1.3): one statement by
``statementId`` or ``voidedStatementId``, or a page of statements, newest stored first.

The list is minimal: filters ``agent`` (the actor or an Agent/Group object, or a member of
either group), ``verb``, ``activity`` (the object), ``since``, ``until``; ``limit``,
``ascending``, ``format`` and ``attachments``; ``more`` is a relative IRL to the next page.
``registration``, ``related_activities=true`` and ``related_agents=true`` are refused with a
400 rather than ignored, and statements targeting a matching statement through a StatementRef
are not added to a filtered list. Voided statements are left out of lists and found only by
``voidedStatementId``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlmodel import Session

from service.core.pagination import BY_TIME_AND_TEXT, decode_cursor, encode_cursor
from service.core.times import RANGE_TEXT, parse_instant
from service.db import utcnow
from service.errors import BadRequest, NotFound, ServiceError
from service.xapi import formats, multipart, repository
from service.xapi.objects import Errors, actor, is_iri, is_uuid
from service.xapi.repository import Filters, StoredStatement

MAX_PAGE = 100
_SINGLE = ("statementId", "voidedStatementId")
_ALWAYS = ("format", "attachments")
_LIST = (
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "ascending",
    "cursor",  # Credence's own: the position of the next page, in ``more``
)
KNOWN = frozenset(_SINGLE + _ALWAYS + _LIST)
_LOWER = {name.lower(): name for name in KNOWN}
#: a "+hh:mm" zone whose "+" arrived as a space (a query string written without encoding it)
_SPACED_ZONE = re.compile(r"^(.*\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


class BadQuery(ServiceError):
    status = 400
    type = "xapi-query"
    title = "The statements query is not valid"


class StatementNotFound(NotFound):
    type = "xapi-statement-not-found"
    title = "No such statement"


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    media_type: str
    consistent_through: datetime
    last_modified: datetime | None = None


def read(
    session: Session,
    params: Sequence[tuple[str, str]],
    *,
    path: str,
    accept_language: str | None,
) -> Reply:
    """Answer a GET on the statements resource with these query parameters."""
    query = _parameters(params)
    repository.settle(session)
    through = utcnow()
    fmt = query.pop("format", "exact")
    if fmt not in formats.FORMATS:
        raise BadQuery(f"format must be one of {', '.join(formats.FORMATS)}.", field="format")
    with_attachments = _flag(query.pop("attachments", None), "attachments")
    shape = _Shape(fmt, accept_language, with_attachments)
    single = [name for name in _SINGLE if name in query]
    if single:
        return _one(session, query, single, shape, through)
    return _page(session, query, params, path, shape, through)


def _parameters(params: Sequence[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in params:
        if name not in KNOWN:
            if name.lower() in _LOWER:
                raise BadQuery(
                    f"Parameter names are case-sensitive: {name!r} should be "
                    f"{_LOWER[name.lower()]!r}.",
                    field=name,
                )
            raise BadQuery(
                f"Unknown parameter {name[:100]!r}; the statements resource takes "
                f"{', '.join(sorted(KNOWN - {'cursor'}))}.",
                field=name[:100],
            )
        if name in found:
            raise BadQuery(f"Parameter {name!r} appears more than once.", field=name)
        found[name] = value
    return found


def _flag(value: str | None, name: str) -> bool:
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise BadQuery(f"{name} must be true or false.", field=name)


@dataclass(frozen=True, slots=True)
class _Shape:
    format: str
    accept_language: str | None
    attachments: bool

    def statement(self, stored: str) -> str:
        if self.format == "exact":
            return stored
        parsed = json.loads(stored)
        if self.format == "ids":
            return _dumps(formats.ids(parsed))
        return _dumps(formats.canonical(parsed, self.accept_language))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _one(
    session: Session,
    query: dict[str, str],
    single: list[str],
    shape: _Shape,
    through: datetime,
) -> Reply:
    if len(single) > 1:
        raise BadQuery("Send statementId or voidedStatementId, not both.", field="statementId")
    name = single[0]
    others = sorted(set(query) - {name})
    if others:
        raise BadQuery(
            f"With {name}, only format and attachments may be sent (also got {', '.join(others)}).",
            field=others[0],
        )
    wanted = query[name]
    if not is_uuid(wanted):
        raise BadQuery(f"{name} must be a UUID.", field=name)
    found = repository.find(session, wanted.lower())
    voided_wanted = name == "voidedStatementId"
    if found is None or found.voided != voided_wanted:
        why = (
            "is voided: ask for it with voidedStatementId"
            if found is not None and found.voided
            else "is not voided: ask for it with statementId"
            if found is not None
            else "is not stored here"
        )
        raise StatementNotFound(f"Statement {wanted} {why}.", statement_id=wanted)
    if found.statement is None:
        raise StatementNotFound(
            f"Statement {wanted} was accepted before Credence kept statements (it has its "
            "outcome but not its content), so it cannot be returned.",
            statement_id=wanted,
        )
    text = shape.statement(found.statement)
    return _reply(session, text, [found], shape, through, last_modified=found.stored_at)


def _page(
    session: Session,
    query: dict[str, str],
    params: Sequence[tuple[str, str]],
    path: str,
    shape: _Shape,
    through: datetime,
) -> Reply:
    if "registration" in query:
        raise BadQuery("The registration filter is not supported here.", field="registration")
    for broad in ("related_activities", "related_agents"):
        if _flag(query.get(broad), broad):
            raise BadQuery(f"{broad}=true is not supported here.", field=broad)
    filters = Filters(
        agent_key=_agent(query["agent"]) if "agent" in query else None,
        verb=_iri(query, "verb"),
        activity=_iri(query, "activity"),
        since=_timestamp(query, "since"),
        until=_timestamp(query, "until"),
    )
    limit = _limit(query.get("limit"))
    ascending = _flag(query.get("ascending"), "ascending")
    rows = repository.page(
        session, filters, limit=limit + 1, ascending=ascending, after=_after(query.get("cursor"))
    )
    more = ""
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        position = [last.stored_at.isoformat(), last.id]
        kept = [(k, v) for k, v in params if k != "cursor"]
        more = f"{path}?{urlencode([*kept, ('cursor', encode_cursor(position))])}"
    texts = [shape.statement(r.statement) for r in rows if r.statement is not None]
    body = '{"statements":[' + ",".join(texts) + '],"more":' + json.dumps(more) + "}"
    return _reply(session, body, rows, shape, through, last_modified=None)


def _reply(
    session: Session,
    text: str,
    rows: Sequence[StoredStatement],
    shape: _Shape,
    through: datetime,
    *,
    last_modified: datetime | None,
) -> Reply:
    data = text.encode()
    if not shape.attachments:
        return Reply(data, "application/json", through, last_modified)
    wanted = [sha for row in rows if row.statement is not None for sha in _sha2s(row.statement)]
    found = repository.attachments(session, wanted)
    content_type, body = multipart.compose(
        data, [(a.content_type, a.sha2, a.content) for a in found]
    )
    return Reply(body, content_type, through, last_modified)


def _sha2s(stored: str) -> list[str]:
    """The sha2 of every attachment a stored statement (or its SubStatement) declares."""
    statement = json.loads(stored)
    found = [a.get("sha2") for a in statement.get("attachments") or [] if isinstance(a, dict)]
    sub = statement.get("object")
    if isinstance(sub, dict) and sub.get("objectType") == "SubStatement":
        found += [a.get("sha2") for a in sub.get("attachments") or [] if isinstance(a, dict)]
    return [s.lower() for s in found if isinstance(s, str)]


def _agent(text: str) -> str:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadQuery(
            "agent must be an Agent or identified Group as JSON.", field="agent"
        ) from None
    errors = Errors("")
    found = actor(value, "agent", errors, required=True)
    if errors.items:
        first = errors.items[0]
        raise BadQuery(
            f"{first['location']}: {first['message']}", errors=errors.items, field="agent"
        )
    if found is None or found.ifi_key is None:
        raise BadQuery(
            "agent must identify one Agent or Group (mbox, mbox_sha1sum, openid or account); "
            "an anonymous Group cannot be looked up.",
            field="agent",
        )
    return found.ifi_key


def _iri(query: dict[str, str], name: str) -> str | None:
    value = query.get(name)
    if value is not None and not is_iri(value):
        raise BadQuery(f"{name} must be an IRI.", field=name)
    return value


def _timestamp(query: dict[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    spaced = _SPACED_ZONE.match(value)
    if spaced:
        value = f"{spaced.group(1)}+{spaced.group(2)}"
    try:
        parsed = parse_instant(value)
    except ValueError:
        raise BadQuery(f"{name} must be an ISO 8601 timestamp {RANGE_TEXT}.", field=name) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _limit(value: str | None) -> int:
    if value is None:
        return MAX_PAGE
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise BadQuery("limit must be a non-negative integer.", field="limit")
    number = int(value)
    return MAX_PAGE if number == 0 else min(number, MAX_PAGE)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    try:
        position = decode_cursor(cursor, BY_TIME_AND_TEXT)
    except BadRequest:
        raise BadQuery(
            "cursor is not one this endpoint returned in more.", field="cursor"
        ) from None
    if position is None:
        return None
    at, last = position
    return at.astimezone(UTC), last
