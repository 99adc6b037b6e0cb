"""Imports go one way: service -> credentials, never back, and credentials stays offline."""

from __future__ import annotations

import ast

from tests.conftest import REPO

FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "sqlmodel",
    "service",
    "pydantic_settings",
    "alembic",
    "uvicorn",
)


def _imports(path) -> set[str]:  # type: ignore[no-untyped-def]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_credentials_imports_no_web_database_or_service_code() -> None:
    files = sorted((REPO / "credentials").rglob("*.py"))
    assert files
    offenders = {str(f.relative_to(REPO)): sorted(_imports(f) & set(FORBIDDEN)) for f in files}
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_services_never_commit() -> None:
    offenders = []
    for path in (REPO / "service").rglob("service.py"):
        if "session.commit()" in path.read_text():
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == [], "services flush; the request's session dependency commits"
