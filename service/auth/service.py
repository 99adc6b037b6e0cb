"""Who is calling, and may they: the one rule every door (REST, permission checks, xAPI Basic)
applies to a presented API key, with its messages defined once.

The rule (:func:`admit`): a key that is missing is a 401 :class:`MissingKey`; one that is
malformed, unknown, revoked or does not match its stored hash is a 401 :class:`InvalidKey`
(the same answer for each, so a caller learns nothing about which); a valid key whose scopes
hold neither the scope asked for nor ``admin`` is a 403 :class:`MissingScope`. Doors differ only
in how they find the key in the request and how they read the client row: :func:`admit_key`
reads it with its own statement, the permission check reads it in its snapshot statement
(``service.permissions.repository``) and calls :func:`admit` on what it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from sqlalchemy.engine import Engine

from service.auth.keys import grants, hashes_match, parse_prefix
from service.auth.repository import read_client
from service.errors import Forbidden, Unauthorized

NO_KEY = "Send an API key as 'Authorization: Bearer <key>'."
INVALID_KEY = "The API key is not valid (unknown, malformed or revoked)."


class MissingKey(Unauthorized):
    """401: the request carries no API key where this door looks for one."""

    def __init__(self, detail: str = NO_KEY) -> None:
        super().__init__(detail)


class InvalidKey(Unauthorized):
    """401: the key is malformed, unknown, revoked or does not match its stored hash."""

    def __init__(self) -> None:
        super().__init__(INVALID_KEY)


class MissingScope(Forbidden):
    """403: a valid key whose scopes hold neither ``scope`` nor ``admin``."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"This API key lacks the '{scope}' scope.", required_scope=scope)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    client_id: int
    name: str
    prefix: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"api-client:{self.prefix}"


class StoredClient(Protocol):
    """What the rule needs of an API client row, however it was read."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def secret_hash(self) -> str: ...
    @property
    def scopes(self) -> str: ...
    @property
    def revoked(self) -> bool: ...


class PresentedKey(NamedTuple):
    """A well-formed key and its public prefix (which names the client row to read)."""

    key: str
    prefix: str


def well_formed(key: str) -> PresentedKey:
    """``key`` with its prefix, or :class:`InvalidKey` when it cannot be a key (no read made)."""
    prefix = parse_prefix(key)
    if prefix is None:
        raise InvalidKey()
    return PresentedKey(key, prefix)


def admit(client: StoredClient | None, key: PresentedKey, scope: str | None) -> Principal:
    """The caller ``key`` stands for when ``client`` is the row stored under its prefix (None:
    no such row): :class:`InvalidKey` unless the row is live and its hash matches, then
    :class:`MissingScope` unless it grants ``scope`` (None: any valid key will do)."""
    if client is None or client.revoked or not hashes_match(key.key, client.secret_hash):
        raise InvalidKey()
    principal = Principal(client.id, client.name, key.prefix, frozenset(client.scopes.split()))
    if scope is not None and not grants(principal.scopes, scope):
        raise MissingScope(scope)
    return principal


def admit_key(engine: Engine, key: str, scope: str | None) -> Principal:
    """:func:`admit` for a presented ``key``, reading its client row with its own statement."""
    presented = well_formed(key)
    return admit(read_client(engine, presented.prefix), presented, scope)


def authenticate(engine: Engine, key: str) -> Principal | None:
    """The principal a presented key stands for, or None (unknown, malformed or revoked)."""
    try:
        return admit_key(engine, key, None)
    except InvalidKey:
        return None
