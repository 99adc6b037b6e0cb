"""did:web helpers: DID -> document URL, and the DID document that publishes signing keys."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric import ed25519

from credentials.errors import MisuseError
from credentials.keys import jwks_document, public_key_from_jwk
from credentials.multikey import multikey_from_public_key

__all__ = ["did_web_document", "did_web_url", "multikey_from_jwk"]

DID_CONTEXTS = (
    "https://www.w3.org/ns/did/v1",
    "https://www.w3.org/ns/cid/v1",  # Multikey
    "https://w3id.org/security/suites/jws-2020/v1",  # JsonWebKey2020
)
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

    Each JWK becomes a ``JsonWebKey2020`` verification method ``{id: "<did>#<kid>", type:
    "JsonWebKey2020", controller: did, publicKeyJwk}``, the type that current and older DID
    tooling both read (did-jwt, Veramo, the 1EdTech validator; the newer ``JsonWebKey`` type is
    not known to all of them). An Ed25519 key is also published as a ``Multikey``
    ``{id: "<did>#<publicKeyMultibase>", publicKeyMultibase}``, the form Data Integrity
    (``eddsa-rdfc-2022``) verifiers resolve. Every method is listed in ``assertionMethod``
    (and in ``authentication`` when asked). Include retired keys while credentials they
    signed are still valid.

    Raises:
        MisuseError: malformed DID, a JWK without ``kid``, or a JWK with private members.
    """
    _check_did(did)
    keys = jwks_document(public_jwks)["keys"]
    methods: list[dict[str, Any]] = []
    for jwk in keys:
        methods.append(
            {
                "id": f"{did}#{jwk['kid']}",
                "type": "JsonWebKey2020",
                "controller": did,
                "publicKeyJwk": jwk,
            }
        )
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519":
            multibase = multikey_from_jwk(jwk)
            methods.append(
                {
                    "id": f"{did}#{multibase}",
                    "type": "Multikey",
                    "controller": did,
                    "publicKeyMultibase": multibase,
                }
            )
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


def multikey_from_jwk(jwk: Mapping[str, Any]) -> str:
    """The ``publicKeyMultibase`` (``z6Mk…``) of an Ed25519 public JWK."""
    _, key = public_key_from_jwk(jwk)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise MisuseError("only Ed25519 keys have a Multikey form here")
    return multikey_from_public_key(key)
