"""Schemathesis hooks for ``test_fuzz.py`` (loaded through ``SCHEMATHESIS_HOOKS``): besides the
values the OpenAPI document describes, the fuzzed cases get the shapes of input that once
caused 5xx (issue 20) - cursor-shaped values, times at and past the edges of the representable
range, NUL characters and unpaired surrogates - and real ids from the seeded database (from
``CREDENCE_FUZZ_IDS``), so requests reach the code behind the "not found" answers.

One hook, ``flatmap_case``: each generated case is sent either as generated or with one of
those changes, chosen by Hypothesis (so a failure shrinks and replays with the seed).
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

# Path parameter name -> ids that exist in the fuzzed database (see test_fuzz.py).
REAL_IDS: dict[str, list[Any]] = json.loads(os.environ.get("CREDENCE_FUZZ_IDS", "{}"))

# Names under which the API takes a time (query parameters and body members).
TIME_NAMES = frozenset(
    {"at", "expiring_before", "completed_at", "attributes_effective_at", "time", "timestamp"}
)

EDGE_TIMES = [
    "0001-01-01T00:00:00+14:00",  # year 0 in UTC
    "9999-12-31T23:59:59-14:00",  # year 10000 in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "0001-01-02T00:00:00Z",  # the accepted range's first instant
    "9999-12-30T23:59:59Z",
    "2026-01-01T00:00:00",  # naive
    "2026-02-30T00:00:00Z",
    "1970-01-01T00:00:00+23:59",
]


def _time_text(moment: datetime, offset_minutes: int | None) -> str:
    if offset_minutes is None:
        return moment.isoformat()
    return moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes))).isoformat()


TIMES = st.one_of(
    st.sampled_from(EDGE_TIMES),
    st.builds(
        _time_text,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
        st.one_of(st.none(), st.integers(-14 * 60, 14 * 60)),
    ),
)


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
CURSORS = st.one_of(
    st.sampled_from(
        [
            "WyJ4IiwgMV0",  # ["x", 1]
            _cursor([5, 1]),
            _cursor(1e30),
            _cursor(2**63),
            _cursor(["2026-01-01T00:00:00", "urn:uuid:0"]),
            _cursor(["0001-01-01T00:00:00+14:00", "urn:uuid:0"]),
            _cursor(["r", "l", "2026-01-01T00:00:00+00:00", "x"]),
            _cursor("a\x00b"),
            _cursor("\ud800"),
            "%%%",
            "",
        ]
    ),
    _JSON.map(_cursor),
    st.tuples(TIMES, st.text(max_size=8)).map(lambda pair: _cursor(list(pair))),
)

NUL_TEXT = st.sampled_from(["\x00", "a\x00b", "\x00" * 3])
BAD_TEXT = st.one_of(NUL_TEXT, st.sampled_from(["\ud800", "a\udfffb", "\udc00\ud800"]))


def _string_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every string in a JSON value."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in _string_paths(child, (*path, key))]
    if isinstance(value, list):
        return [p for i, child in enumerate(value) for p in _string_paths(child, (*path, i))]
    return []


def _named_paths(value: Any, names: frozenset[str], path: tuple[Any, ...] = ()) -> list[Any]:
    """Paths to the members of a JSON value called one of ``names``."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key in names:
                found.append((*path, key))
            found += _named_paths(child, names, (*path, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _named_paths(child, names, (*path, i))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copied = copy.copy(value)
    copied[path[0]] = _set(value[path[0]], path[1:], new)
    return copied


Change = Callable[[Any], None]


def _put(case: Any, name: str, value: Any) -> None:
    """Replace a part of the case without schemathesis's change tracking: it would re-validate
    the case against the document, and its validator raises on an unpaired surrogate."""
    object.__setattr__(case, name, value)


def _changes(case: Any) -> list[st.SearchStrategy[Change]]:
    """Strategies of the changes that apply to this case, one per kind (cursor, time, real id,
    hostile text), so that no kind crowds out the others however many fields a case has."""
    query, path, body = dict(case.query or {}), dict(case.path_parameters or {}), case.body
    body = body if isinstance(body, dict | list) else None
    kinds: dict[str, list[st.SearchStrategy[Change]]] = {
        "cursor": [],
        "time": [],
        "id": [],
        "text": [],
    }

    def set_query(name: str) -> Callable[[Any], Change]:
        return lambda value: lambda c: _put(c, "query", {**query, name: value})

    def set_path(name: str) -> Callable[[Any], Change]:
        return lambda value: lambda c: _put(c, "path_parameters", {**path, name: value})

    def set_body(where: tuple[Any, ...]) -> Callable[[Any], Change]:
        return lambda value: lambda c: _put(c, "body", _set(body, where, value))

    for name in (p.name for p in case.operation.query):
        if name == "cursor":
            kinds["cursor"].append(CURSORS.map(set_query(name)))
        elif name in TIME_NAMES:
            kinds["time"].append(TIMES.map(set_query(name)))
        kinds["text"].append(NUL_TEXT.map(set_query(name)))
    for name in path:
        kinds["text"].append(NUL_TEXT.map(lambda v, n=name: set_path(n)(f"{path[n]}{v}")))
        if REAL_IDS.get(name):
            kinds["id"].append(st.sampled_from(REAL_IDS[name]).map(set_path(name)))
    if body is not None:
        for where in _named_paths(body, TIME_NAMES):
            kinds["time"].append(TIMES.map(set_body(where)))
        # a form body is UTF-8 on the wire: it can carry a NUL, never an unpaired surrogate
        form = case.media_type == "application/x-www-form-urlencoded"
        for where in _string_paths(body):
            kinds["text"].append((NUL_TEXT if form else BAD_TEXT).map(set_body(where)))
    return [st.one_of(found) for found in kinds.values() if found]


@schemathesis.hook
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
    changes = _changes(case)
    if not changes:
        return st.just(case)

    query, path, body = dict(case.query or {}), dict(case.path_parameters or {}), case.body

    def apply(change: Change | None) -> Any:
        # Hypothesis may draw again for the same case: start from what was generated each time
        # (the changes never modify these in place; the body sentinel stays the same object)
        _put(case, "query", dict(query))
        _put(case, "path_parameters", dict(path))
        _put(case, "body", body)
        if change is not None:
            change(case)
        return case

    # about half of the cases go as generated, the others with one change of one kind
    return st.one_of(st.none(), st.one_of(changes)).map(apply)
