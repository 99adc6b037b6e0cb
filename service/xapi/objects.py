"""Validating the objects a statement is made of (agents, groups, verbs, activities), each to
its closed set of xAPI properties: a property xAPI does not define, or a null, is an error at
any depth (only extensions are open).

Every problem is added to an :class:`Errors` under the field path a client would write
(``actor.account.homePage``); nothing here raises.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

MAX_IRI = 2048
MAX_VERB_IRI = 500

UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
_MBOX = re.compile(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$")
_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")

AGENT_KEYS = frozenset({"objectType", "name", *_IFIS})
GROUP_KEYS = AGENT_KEYS | {"member"}
ACCOUNT_KEYS = frozenset({"homePage", "name"})
VERB_KEYS = frozenset({"id", "display"})
ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
STATEMENT_REF_KEYS = frozenset({"objectType", "id"})
COMPONENT_KEYS = frozenset({"id", "description"})
_DEFINITION_KEYS = frozenset(
    {"name", "description", "type", "moreInfo", "extensions", "interactionType"}
)
#: The interaction component lists each interactionType may carry (xAPI Data 2.4.4.1).
COMPONENT_LISTS: dict[str, frozenset[str]] = {
    "true-false": frozenset(),
    "choice": frozenset({"choices"}),
    "fill-in": frozenset(),
    "long-fill-in": frozenset(),
    "matching": frozenset({"source", "target"}),
    "performance": frozenset({"steps"}),
    "sequencing": frozenset({"choices"}),
    "likert": frozenset({"scale"}),
    "numeric": frozenset(),
    "other": frozenset(),
}
_ALL_COMPONENT_LISTS = frozenset().union(*COMPONENT_LISTS.values())


class Errors:
    """The problems found in one statement, each with the field a client would name."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[dict[str, Any]] = []

    def add(self, field: str, message: str) -> None:
        location = f"{self.prefix}.{field}" if self.prefix and field else field or self.prefix
        self.items.append({"location": location, "message": message, "type": "xapi"})


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # "agent" | "group"
    mbox: str | None  # the email, without mailto:, lowercased
    account_name: str | None
    name: str | None
    #: ``agent_key`` of its own identifier (None for an anonymous Group)
    ifi_key: str | None = None
    #: its ``ifi_key`` (when it has one) and each group member's: what finds it by agent
    keys: tuple[str, ...] = ()


def agent_key(ifi: str, value: str) -> str:
    """The key an agent is found by: SHA-256 of its inverse functional identifier (mbox and
    mbox_sha1sum compared in lower case, as xAPI recommends sending them)."""
    return hashlib.sha256(f"{ifi}\n{value}".encode()).hexdigest()


def closed(value: dict[str, Any], allowed: frozenset[str], field: str, errors: Errors) -> None:
    """Every key of ``value`` is one xAPI defines for this object, and none is null."""
    for key, item in value.items():
        where = f"{field}.{key}" if field else str(key)
        if key not in allowed:
            errors.add(where, f"is not a property of {_kind(field)} in xAPI")
        elif item is None:
            errors.add(where, "must not be null")


def _kind(field: str) -> str:
    last = field.rsplit(".", 1)[-1].split("[", 1)[0]
    return f"'{last}'" if last else "a statement"


def is_uuid(value: Any) -> bool:
    return isinstance(value, str) and bool(UUID_PATTERN.match(value))


def is_iri(value: Any, max_length: int = MAX_IRI) -> bool:
    return isinstance(value, str) and len(value) <= max_length and bool(_IRI.match(value))


def actor(
    value: Any, field: str, errors: Errors, *, required: bool, group_ok: bool = True
) -> Actor | None:
    """An Agent or a Group (identified or anonymous, with Agent members)."""
    if value is None:
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(value, dict):
        errors.add(field, "must be an object (an Agent or a Group)")
        return None
    object_type = value.get("objectType", "Agent")
    if object_type not in ("Agent", "Group") or (object_type == "Group" and not group_ok):
        errors.add(f"{field}.objectType", "must be Agent or Group" if group_ok else "must be Agent")
        return None
    closed(value, GROUP_KEYS if object_type == "Group" else AGENT_KEYS, field, errors)
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
    own: str | None = None
    keys: list[str] = []
    if members is not None and not isinstance(members, list):
        errors.add(f"{field}.member", "must be an array of Agents")
    elif isinstance(members, list):
        for i, member in enumerate(members):
            found_member = actor(
                member, f"{field}.member[{i}]", errors, required=True, group_ok=False
            )
            if found_member is not None:
                keys.extend(found_member.keys)
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
            own = agent_key("mbox", "mailto:" + mbox)
    sha1 = value.get("mbox_sha1sum")
    if sha1 is not None:
        if isinstance(sha1, str) and _SHA1.match(sha1):
            own = agent_key("mbox_sha1sum", sha1.lower())
        else:
            errors.add(f"{field}.mbox_sha1sum", "must be 40 hexadecimal characters")
    openid = value.get("openid")
    if openid is not None:
        if is_iri(openid):
            own = agent_key("openid", openid)
        else:
            errors.add(f"{field}.openid", "must be an IRI")
    account = value.get("account")
    if account is not None:
        if not isinstance(account, dict):
            errors.add(f"{field}.account", "must be an object with homePage and name")
        else:
            closed(account, ACCOUNT_KEYS, f"{field}.account", errors)
            if not is_iri(account.get("homePage")):
                errors.add(f"{field}.account.homePage", "must be an IRL")
            if not isinstance(account.get("name"), str) or not account["name"]:
                errors.add(f"{field}.account.name", "must be a non-empty string")
            else:
                account_name = account["name"]
                if is_iri(account.get("homePage")):
                    own = agent_key("account", f"{account['homePage']}\n{account_name}")
    kind = "group" if object_type == "Group" else "agent"
    every = ([own] if own else []) + keys
    return Actor(kind, mbox, account_name, name, own, tuple(dict.fromkeys(every)))


def language_map(value: Any, field: str, errors: Errors) -> None:
    if value is not None and (
        not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
    ):
        errors.add(field, "must be a language map (language tag → string)")


def verb(value: Any, field: str, errors: Errors) -> str | None:
    if not isinstance(value, dict):
        errors.add(field, "is required and must be an object with an id")
        return None
    closed(value, VERB_KEYS, field, errors)
    language_map(value.get("display"), f"{field}.display", errors)
    if not is_iri(value.get("id"), MAX_VERB_IRI):
        errors.add(f"{field}.id", "must be an IRI")
        return None
    verb_id: str = value["id"]
    return verb_id


def extensions(value: Any, field: str, errors: Errors) -> None:
    """An object keyed by IRIs; its values are free (the one open part of a statement)."""
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(field, "must be an object keyed by IRIs")
        return
    for key in value:
        if not is_iri(key):
            errors.add(f"{field}", f"extension key {key!r} is not an IRI")


def activity(value: dict[str, Any], field: str, errors: Errors) -> str | None:
    closed(value, ACTIVITY_KEYS, field, errors)
    if value.get("definition") is not None:
        _definition(value["definition"], f"{field}.definition", errors)
    if not is_iri(value.get("id")):
        errors.add(f"{field}.id", "must be an IRI")
        return None
    activity_id: str = value["id"]
    return activity_id


def _definition(definition: Any, field: str, errors: Errors) -> None:
    if not isinstance(definition, dict):
        errors.add(field, "must be an object")
        return
    closed(
        definition,
        _DEFINITION_KEYS | {"correctResponsesPattern"} | _ALL_COMPONENT_LISTS,
        field,
        errors,
    )
    interaction = definition.get("interactionType")
    if interaction is None:
        lists: frozenset[str] = frozenset()
        for name in sorted({"correctResponsesPattern"} | _ALL_COMPONENT_LISTS):
            if name in definition:
                errors.add(f"{field}.{name}", "is only allowed with an interactionType")
    elif isinstance(interaction, str) and interaction in COMPONENT_LISTS:
        lists = COMPONENT_LISTS[interaction]
        for name in sorted(_ALL_COMPONENT_LISTS - lists):
            if name in definition:
                errors.add(
                    f"{field}.{name}", f"is not a component list of a {interaction} interaction"
                )
    else:
        lists = _ALL_COMPONENT_LISTS  # name the bad type, not every list after it
        errors.add(
            f"{field}.interactionType", f"must be one of {', '.join(sorted(COMPONENT_LISTS))}"
        )
    language_map(definition.get("name"), f"{field}.name", errors)
    language_map(definition.get("description"), f"{field}.description", errors)
    for iri in ("type", "moreInfo"):
        if definition.get(iri) is not None and not is_iri(definition[iri]):
            errors.add(f"{field}.{iri}", "must be an IRI")
    extensions(definition.get("extensions"), f"{field}.extensions", errors)
    pattern = definition.get("correctResponsesPattern")
    if pattern is not None and (
        not isinstance(pattern, list) or not all(isinstance(p, str) for p in pattern)
    ):
        errors.add(f"{field}.correctResponsesPattern", "must be an array of strings")
    for name in sorted(lists):
        if definition.get(name) is not None:
            _components(definition[name], f"{field}.{name}", errors)


def _components(value: Any, field: str, errors: Errors) -> None:
    if not isinstance(value, list):
        errors.add(field, "must be an array of interaction components")
        return
    seen: set[str] = set()
    for i, component in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(component, dict):
            errors.add(where, "must be an object with an id")
            continue
        closed(component, COMPONENT_KEYS, where, errors)
        component_id = component.get("id")
        if not isinstance(component_id, str) or not component_id:
            errors.add(f"{where}.id", "must be a non-empty string")
        elif component_id in seen:
            errors.add(f"{where}.id", "repeats an id of this list")
        else:
            seen.add(component_id)
        language_map(component.get("description"), f"{where}.description", errors)


def statement_ref(value: dict[str, Any], field: str, errors: Errors) -> str | None:
    closed(value, STATEMENT_REF_KEYS, field, errors)
    if value.get("objectType") != "StatementRef":
        errors.add(f"{field}.objectType", "must be StatementRef")
    if not is_uuid(value.get("id")):
        errors.add(f"{field}.id", "a StatementRef's id must be a UUID")
        return None
    return str(value["id"]).lower()
