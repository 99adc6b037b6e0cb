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


# The reports compose their SQL from pieces that service/reports/repository.py builds (a holder
# query inside an overdue query inside a page) and run the composed statement there.
RUNS_COMPOSED_SQL = {"service/reports/service.py"}
SESSION_QUERY = (
    "session.add(",
    "session.add_all(",
    "session.exec(",
    "session.execute(",
    "session.get(",
    "session.delete(",
    "session.scalar(",
    "session.scalars(",
)


def test_queries_live_in_repositories() -> None:
    """Only a ``repository.py`` (and the session's own plumbing) runs SQL or writes rows; a
    service, router or worker asks a repository."""
    offenders = []
    for path in sorted((REPO / "service").rglob("*.py")):
        name = str(path.relative_to(REPO))
        if path.name == "repository.py" or name in RUNS_COMPOSED_SQL:
            continue
        text = path.read_text()
        offenders += [f"{name}: {call}" for call in SESSION_QUERY if call in text]
    assert offenders == []
