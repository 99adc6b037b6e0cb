"""did:web helpers: DID -> document URL, and the DID document that publishes signing keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from credentials.errors import MisuseError
from credentials.keys import jwks_document

__all__ = ["did_web_document", "did_web_url"]

DID_CONTEXTS = ("https://www.w3.org/ns/did/v1", "https://www.w3.org/ns/cid/v1")
_DID_WEB = re.compile(r"did:web:([A-Za-z0-9.\-]+(?:%3[Aa][0-9]+)?)((?::[A-Za-z0-9._~\-%]+)*)")


def _check_did(did: str) -> re.Match[str]:
    match = _DID_WEB.fullmatch(did)
    if match is None:
        raise MisuseError(f"not a did:web DID (no path/fragment/query allowed): {did!r}")
    return match


def did_web_url(did: str) -> str:
    """Return the HTTPS URL a ``did:web`` DID resolves to.

    ``did:web:certs.example.com`` -> ``https://certs.example.com/.well-known/did.json``;
    ``did:web:example.com:issuers:a`` -> ``https://example.com/issuers/a/did.json``;
    a port is written ``%3A`` in the DID.

    Raises:
        MisuseError: ``did`` is not a well-formed ``did:web`` DID.
    """
    match = _check_did(did)
    host = unquote(match.group(1))
    path = match.group(2)
    if not path:
        return f"https://{host}/.well-known/did.json"
    segments = [unquote(seg) for seg in path[1:].split(":")]
    return f"https://{host}/{'/'.join(segments)}/did.json"


def did_web_document(
    did: str, public_jwks: Iterable[Mapping[str, Any]], *, authentication: bool = False
) -> dict[str, Any]:
    """Build the DID document that publishes the issuer's public keys.

    Each JWK becomes a ``JsonWebKey`` verification method ``{id: "<did>#<kid>", type:
    "JsonWebKey", controller: did, publicKeyJwk}`` listed in ``assertionMethod`` (and in
    ``authentication`` when asked). Include retired keys while credentials they signed are
    still valid.

    Raises:
        MisuseError: malformed DID, a JWK without ``kid``, or a JWK with private members.
    """
    _check_did(did)
    keys = jwks_document(public_jwks)["keys"]
    methods = [
        {"id": f"{did}#{jwk['kid']}", "type": "JsonWebKey", "controller": did, "publicKeyJwk": jwk}
        for jwk in keys
    ]
    refs = [method["id"] for method in methods]
    doc: dict[str, Any] = {
        "@context": list(DID_CONTEXTS),
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": refs,
    }
    if authentication:
        doc["authentication"] = list(refs)
    return doc
