"""Creating, listing and revoking API clients (each an audited change)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from service.api_clients import repository
from service.audit.service import lock_chain, record
from service.auth.keys import SCOPES, generate_key, hash_key
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.models import ApiClient


def normalise_scopes(scopes: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InvalidInput(f"Unknown scope(s) {unknown}; known scopes: {', '.join(SCOPES)}")
    if not wanted:
        raise InvalidInput("An API client needs at least one scope.")
    return wanted


def create_client(
    session: Session, *, name: str, scopes: Iterable[str], actor: str
) -> tuple[ApiClient, str]:
    """Create a client; returns it with its key (the only time the key exists in clear)."""
    scope_list = normalise_scopes(scopes)
    key, prefix = generate_key()
    client = ApiClient(
        name=name,
        prefix=prefix,
        secret_hash=hash_key(key),
        scopes=" ".join(scope_list),
        created_at=utcnow(),
    )
    repository.save(session, client)
    record(
        session,
        actor=actor,
        action="api_client.created",
        subject=f"api-client:{prefix}",
        data={"name": name, "scopes": scope_list},
    )
    return client, key


def list_clients(session: Session, *, after_id: int, limit: int) -> list[ApiClient]:
    return repository.page(session, after_id=after_id, limit=limit)


def get_by_prefix(session: Session, prefix: str) -> ApiClient:
    client = repository.by_prefix(session, prefix)
    if client is None:
        raise NotFound(f"No API client with prefix {prefix!r}.")
    return client


def revoke_client(session: Session, prefix: str, *, actor: str) -> ApiClient:
    """Revoke once: decided under the chain's append lock, so of many revocations at once one
    succeeds and the others get a 409."""
    lock_chain(session)
    client = repository.by_prefix(session, prefix, fresh=True)
    if client is None:
        raise NotFound(f"No API client with prefix {prefix!r}.")
    if client.revoked_at is not None:
        raise Conflict(f"API client {prefix!r} was already revoked.")
    client.revoked_at = utcnow()
    repository.save(session, client)
    record(
        session,
        actor=actor,
        action="api_client.revoked",
        subject=f"api-client:{prefix}",
        data={"name": client.name},
    )
    return client
