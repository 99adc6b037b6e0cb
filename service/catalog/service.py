"""Catalog rules: every write — a declarative apply or a single CRUD call — is the same move:
take the active catalog, make the desired one, validate it whole, diff, write the diff, audit
each changed object, bump the catalog revision. Nothing is ever silently revoked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from service.audit.service import record
from service.catalog import repository
from service.catalog.diff import CatalogDiff, diff_catalogs
from service.catalog.document import CatalogDocument
from service.catalog.validation import (
    CatalogError,
    PrerequisiteCycle,
    UnknownReference,
    describe_validation_error,
    validate_catalog,
)
from service.db import utcnow
from service.errors import Conflict, InvalidInput


class CatalogInvalid(InvalidInput):
    type = "catalog-invalid"
    title = "The catalog would not be valid"


class CatalogCycle(Conflict):
    type = "catalog-prerequisite-cycle"
    title = "The change would create a prerequisite cycle"


class CatalogInUse(Conflict):
    type = "catalog-in-use"
    title = "Still referred to"


@dataclass(frozen=True)
class ApplyResult:
    diff: CatalogDiff
    revision: int
    applied: bool


def raise_as_problem(exc: CatalogError) -> None:
    if isinstance(exc, PrerequisiteCycle):
        raise CatalogCycle(str(exc), cycle=exc.cycle) from exc
    extra: dict[str, Any] = {"path": exc.path}
    if isinstance(exc, UnknownReference):
        extra["reference"] = exc.reference
    raise CatalogInvalid(str(exc), errors=None, **extra) from exc


def build_document(raw: object) -> CatalogDocument:
    """A document from parsed JSON/YAML, or a 422 problem naming the first bad field."""
    try:
        return CatalogDocument.from_mapping(raw)
    except ValidationError as exc:
        path, message = describe_validation_error(exc)
        raise CatalogInvalid(f"{path}: {message}" if path else message, path=path) from exc


def current_document(session: Session) -> CatalogDocument:
    return repository.to_document(repository.load_rows(session))


def apply(
    session: Session,
    desired: CatalogDocument | Callable[[CatalogDocument], CatalogDocument],
    *,
    actor: str,
    dry_run: bool = False,
) -> ApplyResult:
    """Make the active catalog equal ``desired`` (or ``desired(current)``); flushes only."""
    state = repository.lock_catalog(session)
    rows = repository.load_rows(session)
    current = repository.to_document(rows)
    target = desired(current) if callable(desired) else desired
    try:
        validate_catalog(target)
    except CatalogError as exc:
        raise_as_problem(exc)
    diff = diff_catalogs(current, target)
    if dry_run or diff.is_empty:
        return ApplyResult(diff=diff, revision=state.revision, applied=False)
    now = utcnow()
    repository.write_diff(session, rows, target, diff, now)
    for change in diff.entries:
        record(
            session,
            actor=actor,
            action=f"catalog.{change.kind}.{change.action}",
            subject=f"{change.kind}:{change.id}",
            data=change.to_mapping(),
        )
    revision = repository.bump_revision(session, state, now)
    return ApplyResult(diff=diff, revision=revision, applied=True)
