"""The ``format`` of statements read back (xAPI 1.0.3 Communication 2.1.3).

- ``exact``: as stored (the stored JSON text, untouched);
- ``ids``: Agents and Groups reduced to their identifier (an anonymous Group to its members'),
  Activities to their id, Verbs to their id;
- ``canonical``: Activity definitions and Verb displays as received (Credence keeps no other
  definition of them) with every language map narrowed to the one language the request's
  ``Accept-Language`` prefers.
"""

from __future__ import annotations

from typing import Any

_IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
FORMATS = ("exact", "ids", "canonical")


def ids(statement: dict[str, Any]) -> dict[str, Any]:
    """The statement in the ``ids`` format."""
    out = dict(statement)
    for key in ("actor", "authority"):
        if isinstance(out.get(key), dict):
            out[key] = _agent_ids(out[key])
    if isinstance(out.get("verb"), dict):
        out["verb"] = {"id": out["verb"].get("id")}
    out["object"] = _object_ids(out.get("object"))
    if isinstance(out.get("context"), dict):
        out["context"] = _context_ids(out["context"])
    return out


def _agent_ids(agent: dict[str, Any]) -> dict[str, Any]:
    out = {k: agent[k] for k in ("objectType", *_IFIS) if k in agent}
    if not any(k in agent for k in _IFIS) and isinstance(agent.get("member"), list):
        out["member"] = [_agent_ids(m) if isinstance(m, dict) else m for m in agent["member"]]
    return out


def _activity_ids(activity: dict[str, Any]) -> dict[str, Any]:
    return {k: activity[k] for k in ("objectType", "id") if k in activity}


def _object_ids(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        return _activity_ids(value)
    if kind in ("Agent", "Group"):
        return _agent_ids(value)
    if kind == "SubStatement":
        return ids(value)
    return value


def _context_ids(context: dict[str, Any]) -> dict[str, Any]:
    out = dict(context)
    for key in ("instructor", "team"):
        if isinstance(out.get(key), dict):
            out[key] = _agent_ids(out[key])
    activities = out.get("contextActivities")
    if isinstance(activities, dict):
        out["contextActivities"] = {
            kind: (
                [_activity_ids(a) if isinstance(a, dict) else a for a in items]
                if isinstance(items, list)
                else _activity_ids(items)
                if isinstance(items, dict)
                else items
            )
            for kind, items in activities.items()
        }
    for key, inner in (("contextAgents", "agent"), ("contextGroups", "group")):
        if isinstance(out.get(key), list):
            out[key] = [
                {**item, inner: _agent_ids(item[inner])}
                if isinstance(item, dict) and isinstance(item.get(inner), dict)
                else item
                for item in out[key]
            ]
    return out


def canonical(statement: dict[str, Any], accept_language: str | None) -> dict[str, Any]:
    """The statement in the ``canonical`` format for this ``Accept-Language``."""
    wanted = _preferences(accept_language)
    out = dict(statement)
    if isinstance(out.get("verb"), dict) and isinstance(out["verb"].get("display"), dict):
        out["verb"] = {**out["verb"], "display": _one(out["verb"]["display"], wanted)}
    out["object"] = _object_canonical(out.get("object"), wanted)
    context = out.get("context")
    if isinstance(context, dict) and isinstance(context.get("contextActivities"), dict):
        out["context"] = {
            **context,
            "contextActivities": {
                kind: (
                    [_activity_canonical(a, wanted) for a in items]
                    if isinstance(items, list)
                    else _activity_canonical(items, wanted)
                )
                for kind, items in context["contextActivities"].items()
            },
        }
    return out


def _object_canonical(value: Any, wanted: list[str]) -> Any:
    if not isinstance(value, dict):
        return value
    kind = value.get("objectType", "Activity")
    if kind == "Activity":
        return _activity_canonical(value, wanted)
    if kind == "SubStatement":
        return canonical(value, ",".join(wanted))  # the same preferences, in order
    return value


def _activity_canonical(activity: Any, wanted: list[str]) -> Any:
    if not isinstance(activity, dict) or not isinstance(activity.get("definition"), dict):
        return activity
    definition = dict(activity["definition"])
    for key in ("name", "description"):
        if isinstance(definition.get(key), dict):
            definition[key] = _one(definition[key], wanted)
    for key in ("choices", "scale", "source", "target", "steps"):
        if isinstance(definition.get(key), list):
            definition[key] = [
                {**c, "description": _one(c["description"], wanted)}
                if isinstance(c, dict) and isinstance(c.get("description"), dict)
                else c
                for c in definition[key]
            ]
    return {**activity, "definition": definition}


def _preferences(accept_language: str | None) -> list[str]:
    """Language ranges from ``Accept-Language``, most preferred first (q=0 dropped)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag.strip() and quality > 0:
            ranked.append((-quality, position, tag.strip().lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _one(language_map: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
    """The entry of the language map the preferences pick (RFC 4647 lookup: a range matches
    a tag equal to it or starting with it and a hyphen; ``*`` matches any), else the first."""
    if len(language_map) <= 1:
        return language_map
    lowered = {tag.lower(): tag for tag in language_map}
    for wanted_range in wanted:
        if wanted_range == "*":
            break
        for tag_lower, tag in lowered.items():
            if tag_lower == wanted_range or tag_lower.startswith(wanted_range + "-"):
                return {tag: language_map[tag]}
        base = wanted_range.split("-", 1)[0]
        for tag_lower, tag in lowered.items():
            if tag_lower == base:
                return {tag: language_map[tag]}
    first = next(iter(language_map))
    return {first: language_map[first]}
