"""Where the offline verifier gets an issuer's keys, and which issuer it holds a token to.

A token names its own issuer and key, so neither can be trusted to say where to find the key
that verifies it: a forger names a look-alike issuer whose server serves the forger's key.
The key source is therefore chosen by the person verifying:

- ``--issuer ID`` (an https URL or a did:web DID): the issuer expected. Its keys are fetched
  over https, only from under that issuer's own origin (an https URL) or from its DID document
  (did:web); the token's ``iss`` must be that issuer.
- ``--jwks FILE|URL``: keys the person saved from the issuer. A DID document says whose keys
  they are (its ``id``), and the token's ``iss`` must be that DID. A plain JWKS does not; with
  ``--issuer`` the token's ``iss`` must be that issuer, without it the keys are taken as the
  keys of whichever issuer the token names, and the result notes that the issuer was not checked.
- neither: nothing is fetched (the only place to fetch from would be the token's say-so).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from credentials._encoding import EncodingError, b64url_decode, json_loads_strict
from credentials.did import did_web_url
from credentials.errors import CredentialsError, MisuseError
from credentials.fetch import FetchError, fetch_text
from credentials.jws import ResolveKey
from credentials.keys import KEY_PATH, jwk_thumbprint, public_jwk
from credentials.multikey import public_key_from_multikey

__all__ = ["KeySource", "UsageError", "key_source", "read_source"]


class UsageError(Exception):
    """The command cannot run (exit code 2); the message says why."""


def read_source(source: str, stdin: TextIO | None = None) -> str:
    """Read a file, ``-`` (stdin) or an http(s) URL as text."""
    if source == "-":
        return (stdin or sys.stdin).read()
    if urlsplit(source).scheme in ("http", "https"):
        return fetch(source)
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {source}: {exc}") from None


def fetch(url: str) -> str:
    """`fetch_text`, with its errors as usage errors."""
    try:
        return fetch_text(url)
    except FetchError as exc:
        raise UsageError(str(exc)) from None


def parse_json(text: str, source: str) -> Any:
    try:
        return json_loads_strict(text)
    except EncodingError as exc:
        raise UsageError(f"{source} is not valid JSON: {exc}") from None


def keys_from_document(doc: Any, source: str) -> dict[str, Mapping[str, Any]]:
    """Index the keys of a JWKS or a DID document by kid and by verification-method id (JWK or
    Ed25519 ``Multikey``), or a single JWK by the URL it came from and its kid."""
    index: dict[str, Mapping[str, Any]] = {}
    if isinstance(doc, dict) and isinstance(doc.get("kty"), str):  # one JWK, served at its kid
        index[source] = doc
        if isinstance(doc.get("kid"), str):
            index.setdefault(doc["kid"], doc)
    elif isinstance(doc, dict) and isinstance(doc.get("keys"), list):
        for jwk in doc["keys"]:
            if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
                index[jwk["kid"]] = jwk
    elif isinstance(doc, dict) and isinstance(doc.get("verificationMethod"), list):
        for method in doc["verificationMethod"]:
            if not isinstance(method, dict):
                continue
            jwk = method.get("publicKeyJwk")
            if not isinstance(jwk, dict) and isinstance(method.get("publicKeyMultibase"), str):
                try:  # an Ed25519 Multikey, as Data Integrity proofs name it
                    jwk = public_jwk(public_key_from_multikey(method["publicKeyMultibase"]))
                except CredentialsError:
                    continue
            if not isinstance(jwk, dict):
                continue
            if isinstance(method.get("id"), str):
                index[method["id"]] = jwk
            if isinstance(jwk.get("kid"), str):
                index.setdefault(jwk["kid"], jwk)
    else:
        raise UsageError(f"{source} is neither a JWKS, a JWK nor a DID document")
    return index


def index_resolver(
    index: Mapping[str, Mapping[str, Any]],
) -> Callable[[str], Mapping[str, Any] | None]:
    """Look a header kid up as given, else by the thumbprint it ends with (``…/keys/<t>`` or
    ``…#<t>``), so a saved JWKS serves tokens of either kid form."""
    by_thumbprint: dict[str, Mapping[str, Any]] = {}
    for jwk in index.values():
        try:
            by_thumbprint.setdefault(jwk_thumbprint(jwk), jwk)
        except (CredentialsError, KeyError, TypeError, ValueError):
            continue

    def resolve(kid: str) -> Mapping[str, Any] | None:
        found = index.get(kid)
        if found is None:
            tail = kid.rsplit("#", 1)[1] if "#" in kid else kid.rsplit(KEY_PATH, 1)[-1]
            found = index.get(tail) or by_thumbprint.get(tail)
        return found

    return resolve


def unverified_issuer(token: str) -> str | None:
    """The issuer a token (or a Data Integrity credential's JSON) claims (``iss``, else
    ``issuer``/``issuer.id``), unverified."""
    try:
        if token.lstrip().startswith("{"):
            payload = json_loads_strict(token)
        else:
            payload = json_loads_strict(b64url_decode(token.split(".")[1]))
    except (EncodingError, IndexError, UnicodeEncodeError):
        return None
    if not isinstance(payload, dict):
        return None
    issuer = payload.get("iss") or payload.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    return issuer_id if isinstance(issuer_id, str) else None


_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    try:
        port = parts.port or _PORTS.get(parts.scheme)
    except ValueError:
        return None
    return parts.scheme, (parts.hostname or "").lower(), port


def check_issuer_form(issuer: str, *, fetching: bool) -> None:
    """Refuse an ``--issuer`` that is not an http(s) URL or a did:web DID, and (when keys are
    to be fetched) one that is plain http."""
    if issuer.startswith("did:"):
        try:
            did_web_url(issuer)
        except MisuseError:
            raise UsageError(f"--issuer {issuer!r} is not a did:web DID") from None
        return
    parts = urlsplit(issuer)
    if parts.scheme not in _PORTS or not parts.hostname:
        raise UsageError(f"--issuer {issuer!r} is neither an http(s) URL nor a did:web DID")
    if fetching and parts.scheme != "https":
        raise UsageError(_http_issuer_message(issuer))


def _http_issuer_message(issuer: str) -> str:
    return (
        f"issuer {issuer} is plain http, and keys are only fetched over https (anyone on the "
        "network path could swap an http issuer's keys): save its JWKS from a source you "
        f"trust and pass it with --jwks FILE --issuer {issuer}"
    )


def _no_key_source_message(token_issuer: str | None) -> str:
    message = (
        "no key source: pass --issuer ISSUER (the issuer you expect; its keys are fetched over "
        "https from its own URL or did:web DID) or --jwks FILE (keys you saved from it). "
        "Keys are not fetched from wherever the token says, since a forged token names its "
        "forger's server"
    )
    if token_issuer is None:
        return message
    message += f"; this token names issuer {token_issuer}"
    if urlsplit(token_issuer).scheme == "http":
        message += f". {_http_issuer_message(token_issuer)}"
    return message


def issuer_resolver(issuer: str, notes: list[str]) -> ResolveKey:
    """Fetch the key named by ``kid`` only from under ``issuer``'s own https origin or DID."""
    cache: dict[str, dict[str, Mapping[str, Any]]] = {}

    def keys_at(url: str) -> dict[str, Mapping[str, Any]]:
        if url not in cache:
            cache[url] = keys_from_document(parse_json(fetch(url), url), url)
        return cache[url]

    def resolve(kid: str) -> Mapping[str, Any] | None:
        base = kid.split("#", 1)[0]
        if issuer.startswith("did:"):
            if base != issuer:
                notes.append(f"kid {kid} is not a key of issuer {issuer}; not fetched")
                return None
            url = did_web_url(issuer)
        elif urlsplit(kid).scheme != "https":
            notes.append(f"kid {kid} is not an https URL (only https is fetched); not fetched")
            return None
        elif _origin(kid) != _origin(issuer):
            notes.append(f"kid {kid} is not under issuer {issuer}'s origin; not fetched")
            return None
        else:
            url = base
        return index_resolver(keys_at(url))(kid)

    return resolve


@dataclass(frozen=True, slots=True)
class KeySource:
    """The key resolver, and the issuer tokens must name (None: the issuer is not checked)."""

    resolve: ResolveKey
    expected_issuer: str | None


def key_source(*, jwks: str | None, issuer: str | None, token: str, notes: list[str]) -> KeySource:
    """Choose the key source for ``--jwks`` / ``--issuer`` (see the module docstring).

    Raises:
        UsageError: neither option, a malformed ``--issuer``, an http ``--issuer`` without
            ``--jwks``, or a DID document that is not ``--issuer``'s.
    """
    if issuer is not None:
        check_issuer_form(issuer, fetching=not jwks)
    if jwks:
        doc = parse_json(read_source(jwks), jwks)
        resolve = index_resolver(keys_from_document(doc, jwks))
        did = doc.get("id") if "verificationMethod" in doc else None
        if isinstance(did, str):
            if issuer is not None and issuer != did:
                raise UsageError(f"--jwks {jwks} is the DID document of {did}, not of {issuer}")
            return KeySource(resolve, did)
        if issuer is None:
            named = unverified_issuer(token)
            notes.append(
                f"issuer not checked: --jwks without --issuer takes these keys as those of the "
                f"issuer the token names ({named}); add --issuer to hold the token to one"
            )
        return KeySource(resolve, issuer)
    if issuer is None:
        raise UsageError(_no_key_source_message(unverified_issuer(token)))
    return KeySource(issuer_resolver(issuer, notes), issuer)
