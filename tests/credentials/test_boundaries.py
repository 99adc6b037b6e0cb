"""The library stays offline-capable: no web, database, service or settings imports."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import credentials

FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "sqlmodel",
    "service",
    "pydantic_settings",
    "alembic",
)
PACKAGE = Path(credentials.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_scan_sees_the_package() -> None:
    files = list(PACKAGE.rglob("*.py"))
    assert len(files) >= 10
    assert "cryptography.hazmat.primitives.asymmetric" in imported_modules(PACKAGE / "keys.py")


def test_credentials_imports_nothing_from_web_db_or_service() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offenders == []


def test_public_api_is_declared() -> None:
    assert credentials.__doc__
    for name in credentials.__all__:
        obj = getattr(credentials, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
    assert (PACKAGE / "py.typed").exists()
