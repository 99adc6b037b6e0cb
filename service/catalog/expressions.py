"""A program kind's ``requires`` expression: parsed once, stored as JSON, evaluated fast.

Accepted shapes (JSON or YAML)::

    "social-media/foundations"                          # a level
    {"all_of": [expr, ...]}  /  {"any_of": [expr, ...]}  # nested freely
    {"attribute": "region", "in": ["EU", "UK"]}         # a learner attribute condition
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from service.core.ids import ATTRIBUTE_NAME, LEVEL_ID

MAX_DEPTH = 8
MAX_ITEMS = 64


class ExpressionError(ValueError):
    """The expression is malformed; ``path`` points at the offending part (``requires.all_of[1]``).

    Raised by :func:`parse_requires`.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class LevelRef:
    level: str


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AttributeIn:
    attribute: str
    values: tuple[str, ...]


Expr = LevelRef | AllOf | AnyOf | AttributeIn


def parse_requires(raw: Any, path: str = "requires") -> Expr:
    """Turn the JSON/YAML form into typed nodes, or raise :class:`ExpressionError`."""
    return _parse(raw, path, 0)


def _parse(raw: Any, path: str, depth: int) -> Expr:
    if depth > MAX_DEPTH:
        raise ExpressionError(path, f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(raw, str):
        if not LEVEL_ID.match(raw):
            raise ExpressionError(path, f"{raw!r} is not a level id of the form track/level")
        return LevelRef(raw)
    if not isinstance(raw, dict):
        raise ExpressionError(
            path, "expected a level id, {all_of: [...]}, {any_of: [...]} or {attribute, in}"
        )
    keys = set(raw)
    if keys in ({"all_of"}, {"any_of"}):
        (key,) = keys
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise ExpressionError(f"{path}.{key}", "must be a non-empty list")
        if len(items) > MAX_ITEMS:
            raise ExpressionError(f"{path}.{key}", f"at most {MAX_ITEMS} items")
        parsed = tuple(
            _parse(item, f"{path}.{key}[{i}]", depth + 1) for i, item in enumerate(items)
        )
        return AllOf(parsed) if key == "all_of" else AnyOf(parsed)
    if keys == {"attribute", "in"}:
        name, values = raw["attribute"], raw["in"]
        if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name):
            raise ExpressionError(f"{path}.attribute", f"{name!r} is not an attribute name")
        if (
            not isinstance(values, list)
            or not values
            or len(values) > MAX_ITEMS
            or not all(isinstance(v, str) and 0 < len(v) <= 200 for v in values)
        ):
            raise ExpressionError(f"{path}.in", f"must be a list of 1..{MAX_ITEMS} strings")
        return AttributeIn(name, tuple(dict.fromkeys(values)))
    raise ExpressionError(
        path,
        f"unexpected keys {sorted(map(str, keys))}; use all_of, any_of, or attribute with in",
    )


def to_json(expr: Expr) -> Any:
    """The canonical JSON form (what is stored and returned by the API)."""
    match expr:
        case LevelRef(level):
            return level
        case AllOf(items):
            return {"all_of": [to_json(item) for item in items]}
        case AnyOf(items):
            return {"any_of": [to_json(item) for item in items]}
        case AttributeIn(attribute, values):
            return {"attribute": attribute, "in": list(values)}
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover


def levels_in(expr: Expr) -> set[str]:
    """Every level id the expression mentions."""
    match expr:
        case LevelRef(level):
            return {level}
        case AllOf(items) | AnyOf(items):
            return set().union(*(levels_in(item) for item in items))
    return set()


def evaluate(expr: Expr, held: Collection[str], attributes: Mapping[str, Any]) -> bool:
    """True when the expression holds for these held level ids and learner attributes."""
    match expr:
        case LevelRef(level):
            return level in held
        case AllOf(items):
            return all(evaluate(item, held, attributes) for item in items)
        case AnyOf(items):
            return any(evaluate(item, held, attributes) for item in items)
        case AttributeIn(attribute, values):
            value = attributes.get(attribute)
            return value is not None and str(value) in values
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover
