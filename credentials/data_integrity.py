"""Data Integrity proofs: the ``eddsa-rdfc-2022`` cryptosuite (W3C VC Data Integrity EdDSA
Cryptosuites v1.0), the second securing of the same Open Badges 3.0 credential.

A proof signs the RDF form of the document, not its bytes: both the proof's options and the
unsecured document are canonicalized with RDFC-1.0 (RDF Dataset Canonicalization, the
algorithm published as URDNA2015), each hashed with SHA-256, and the Ed25519 signature covers
``sha256(canonical proof options) || sha256(canonical document)``. The key is an Ed25519
``Multikey`` (``publicKeyMultibase`` = ``z`` + base58btc of ``0xed01`` + the 32-byte key).

Context documents come only from copies pinned in ``credentials/contexts`` (never fetched), and
canonicalization is strict, as JSON-LD "safe mode" is: a term no context defines, or an ``id``
that is not an absolute IRI, would be left out of what is signed, so it is an error instead.

RDFC-1.0 serialises literals with the escapes of canonical N-Quads (``\\b \\t \\n \\f \\r \\"
\\\\`` and ``\\uXXXX`` for the other control characters); pyld 3.3 escapes only five of them,
which changes the hash of any text holding another control character. :func:`canonicalize`
therefore installs the canonical escaping into pyld's N-Quads serialiser (the one pyld uses both
for the output and for hashing blank nodes); tests compare the result with rdf-canonize (npm),
which verifiers use.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyld import jsonld, nquads

from credentials._encoding import base58btc_decode, base58btc_encode
from credentials.errors import DataIntegrityError, MisuseError
from credentials.multikey import multikey_from_public_key, public_key_from_multikey
from credentials.signer import Signer

__all__ = [
    "CRYPTOSUITE",
    "PINNED_CONTEXTS",
    "base58btc_decode",
    "base58btc_encode",
    "canonicalize",
    "multikey_from_public_key",
    "proof_method_id",
    "public_key_from_multikey",
    "secure_credential",
    "sign_data_integrity",
    "verify_authentication",
    "verify_data_integrity",
]

CRYPTOSUITE = "eddsa-rdfc-2022"

#: Context URL -> file in ``credentials/contexts`` (provenance in its README.md).
PINNED_CONTEXTS: dict[str, str] = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.jsonld",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
    # what a Learner Credential Wallet's DIDAuth presentation names (Ed25519Signature2020)
    "https://w3id.org/security/suites/ed25519-2020/v1": "ed25519-signature-2020-v1.jsonld",
}

# ----------------------------------------------------------------------------- canonicalization

_LITERAL_ESCAPES = {
    **{chr(n): f"\\u{n:04X}" for n in [*range(0x20), 0x7F]},
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
    '"': '\\"',
    "\\": "\\\\",
}
_LITERAL_SPECIAL = re.compile(r'[\x00-\x1f\x7f"\\]')


def _escape_literal(value: str) -> str:
    """Canonical N-Quads escaping of a literal's text (RDFC-1.0; as rdf-canonize does)."""
    return _LITERAL_SPECIAL.sub(lambda m: _LITERAL_ESCAPES[m.group()], value)


nquads.escape = _escape_literal  # see the module docstring


@cache
def _pinned(url: str) -> str:
    return resources.files("credentials.contexts").joinpath(PINNED_CONTEXTS[url]).read_text("utf-8")


def _load_document(url: str, options: Any = None) -> dict[str, Any]:
    if url not in PINNED_CONTEXTS:
        raise DataIntegrityError("context", f"context {url!r} is not one Credence knows")
    return {"contextUrl": None, "documentUrl": url, "document": json.loads(_pinned(url))}


def _strict_processor() -> Any:
    def refuse(term: str) -> None:
        raise DataIntegrityError("context", f"term {term!r} is not defined by any context")

    return jsonld.JsonLdProcessor(on_property_dropped=refuse)


_ABSOLUTE_IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


#: Canonicalizing a graph of many look-alike blank nodes costs exponential time (RDFC-1.0's
#: "poison graphs"); a credential has a handful (criteria, images, the proof), so a document
#: with more than this many is refused before canonicalization.
MAX_BLANK_NODES = 64


def _check_ids(node: Any, blank: list[int] | None = None) -> None:
    """Every node id in an expanded document is an absolute IRI or a blank node, and there
    are at most :data:`MAX_BLANK_NODES` blank nodes."""
    blank = [0] if blank is None else blank
    if isinstance(node, list):
        for item in node:
            _check_ids(item, blank)
    elif isinstance(node, dict):
        node_id = node.get("@id")
        named = isinstance(node_id, str) and not node_id.startswith("_:")
        if "@value" not in node and "@list" not in node and not named:
            blank[0] += 1
            if blank[0] > MAX_BLANK_NODES:
                raise DataIntegrityError(
                    "context", f"more than {MAX_BLANK_NODES} blank nodes: not a credential"
                )
        for key, value in node.items():
            if key == "@id" and isinstance(value, str):
                if not (value.startswith("_:") or _ABSOLUTE_IRI.match(value)):
                    raise DataIntegrityError("context", f"id {value!r} is not an absolute IRI")
            elif key == "@type" and isinstance(value, list):
                for name in value:
                    if isinstance(name, str) and not _ABSOLUTE_IRI.match(name):
                        raise DataIntegrityError("context", f"type {name!r} is not defined")
            elif key != "@value":
                _check_ids(value, blank)


def canonicalize(document: Mapping[str, Any]) -> str:
    """The RDFC-1.0 canonical N-Quads of a JSON-LD document, strictly (see the module doc).

    Raises:
        DataIntegrityError: with ``check = "context"`` for an unknown context URL, an undefined
            term or type, or a relative id.
    """
    options = {"documentLoader": _load_document, "base": None}
    try:
        expanded = _strict_processor().expand(dict(document), options)
        _check_ids(expanded)
        text: str = jsonld.normalize(
            expanded,
            {
                **options,
                "algorithm": "URDNA2015",
                "format": "application/n-quads",
            },
        )
    except DataIntegrityError:
        raise
    except jsonld.JsonLdError as exc:
        found = _our_error(exc)
        if found is not None:
            raise found from None
        raise DataIntegrityError("context", f"not valid JSON-LD: {exc.args[0]}") from None
    return text


def _our_error(exc: BaseException) -> DataIntegrityError | None:
    """The DataIntegrityError our loader or term check raised inside pyld, if any (pyld wraps
    it, in ``details["cause"]`` or as the exception's cause)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, DataIntegrityError):
            return current
        details = getattr(current, "details", None)
        if isinstance(details, dict):
            todo.append(details.get("cause"))
        todo += [current.__cause__, current.__context__]
    return None


def _hash_data(document: Mapping[str, Any], proof_options: Mapping[str, Any]) -> bytes:
    proof_config = {**proof_options, "@context": document["@context"]}
    return (
        hashlib.sha256(canonicalize(proof_config).encode("utf-8")).digest()
        + hashlib.sha256(canonicalize(document).encode("utf-8")).digest()
    )


# ----------------------------------------------------------------------------- sign and verify


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sign_data_integrity(
    document: Mapping[str, Any],
    signer: Signer,
    *,
    verification_method: str,
    created: datetime,
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """The document with an ``eddsa-rdfc-2022`` ``DataIntegrityProof`` appended to ``proof``.

    Args:
        document: an unsecured JSON-LD document (its ``@context`` names pinned contexts only);
            an existing ``proof`` array is kept and the new proof added to it.
        signer: an Ed25519 signer (``alg`` ``EdDSA``).
        verification_method: the URL of the key as a ``Multikey`` in the issuer's controller
            document (e.g. ``did:web:example.com#key-1``).
        created: the proof's ``created`` time (tz-aware).
    """
    if signer.alg != "EdDSA":
        raise MisuseError(f"{CRYPTOSUITE} needs an Ed25519 signer, not {signer.alg}")
    if created.tzinfo is None:
        raise MisuseError("created must be timezone-aware")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": _rfc3339(created),
        "verificationMethod": verification_method,
        "proofPurpose": proof_purpose,
    }
    signature = signer.sign(_hash_data(unsecured, options))
    earlier = document.get("proof")
    proofs = list(earlier) if isinstance(earlier, list) else [earlier] if earlier else []
    proof = {**options, "proofValue": "z" + base58btc_encode(signature)}
    return {**copy.deepcopy(dict(unsecured)), "proof": [*copy.deepcopy(proofs), proof]}


def verify_data_integrity(
    document: Mapping[str, Any],
    *,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    proof_purpose: str = "assertionMethod",
) -> dict[str, Any]:
    """Check the document's ``eddsa-rdfc-2022`` proof; return that proof.

    ``resolve_key(verification_method)`` returns the Ed25519 key the issuer publishes at that
    URL, or None. The document must carry exactly one proof of this cryptosuite.

    Raises:
        DataIntegrityError: ``check`` says which stage failed (``format``, ``context``, ``key``
            or ``signature``) and ``reason`` why.
    """
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    ours = [p for p in proofs if isinstance(p, dict) and p.get("cryptosuite") == CRYPTOSUITE]
    if len(ours) != 1:
        raise DataIntegrityError("format", f"expected one {CRYPTOSUITE} proof, found {len(ours)}")
    proof = ours[0]
    if proof.get("type") != "DataIntegrityProof":
        raise DataIntegrityError("format", "proof type is not DataIntegrityProof")
    if proof.get("proofPurpose") != proof_purpose:
        raise DataIntegrityError("format", f"proofPurpose is not {proof_purpose}")
    return _check_signature(document, proof, resolve_key)


def _check_signature(
    document: Mapping[str, Any],
    proof: Mapping[str, Any],
    resolve_key: Callable[[str], Ed25519PublicKey | None],
) -> dict[str, Any]:
    """The Ed25519 signature of ``proof`` over the document (both suites sign the same
    ``sha256(canonical proof options) || sha256(canonical document)``); the proof."""
    method = proof.get("verificationMethod")
    value = proof.get("proofValue")
    if not isinstance(method, str) or not isinstance(value, str) or not value.startswith("z"):
        raise DataIntegrityError("format", "proof lacks verificationMethod or a z-proofValue")
    if "@context" not in document:
        raise DataIntegrityError("format", "document has no @context")
    try:
        signature = base58btc_decode(value[1:])
    except ValueError as exc:
        raise DataIntegrityError("format", f"proofValue: {exc}") from None
    key = resolve_key(method)
    if key is None:
        raise DataIntegrityError("key", f"no Ed25519 key is published at {method}")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    try:
        key.verify(signature, _hash_data(unsecured, options))
    except InvalidSignature:
        raise DataIntegrityError("signature", "the proof does not match the document") from None
    return dict(proof)


#: The proof types a holder's authentication (a DIDAuth presentation) may carry: the current
#: cryptosuite, and the older suite the Learner Credential Wallet signs with. Both sign
#: ``sha256(canonical proof options) || sha256(canonical document)`` with an Ed25519 key.
ED25519_SIGNATURE_2020 = "Ed25519Signature2020"


def verify_authentication(
    document: Mapping[str, Any],
    *,
    challenge: str,
    domain: str | None,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
) -> dict[str, Any]:
    """Check a holder's authentication proof on a presentation (DIDAuth): one
    ``eddsa-rdfc-2022`` ``DataIntegrityProof`` or ``Ed25519Signature2020`` proof with
    ``proofPurpose`` ``authentication``, the expected ``challenge`` and, when ``domain`` is
    given, that ``domain``; return the proof.

    Raises:
        DataIntegrityError: ``check`` names the stage (``format``, ``challenge``, ``context``,
            ``key``, ``signature``).
    """
    raw = document.get("proof")
    proofs = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    if len(proofs) != 1 or not isinstance(proofs[0], dict):
        raise DataIntegrityError("format", f"expected one proof, found {len(proofs)}")
    proof = proofs[0]
    suite = (proof.get("type"), proof.get("cryptosuite"))
    if suite not in (("DataIntegrityProof", CRYPTOSUITE), (ED25519_SIGNATURE_2020, None)):
        raise DataIntegrityError(
            "format", f"proof must be {CRYPTOSUITE} or {ED25519_SIGNATURE_2020}, got {suite[0]!r}"
        )
    if proof.get("proofPurpose") != "authentication":
        raise DataIntegrityError("format", "proofPurpose is not authentication")
    if proof.get("challenge") != challenge:
        raise DataIntegrityError("challenge", "the proof's challenge is not the one asked for")
    if domain is not None and proof.get("domain") != domain:
        raise DataIntegrityError("challenge", f"the proof's domain is not {domain!r}")
    return _check_signature(document, proof, resolve_key)


# ------------------------------------------------------------------------- the credential's form


def proof_method_id(issuer_base: str, jwk: Mapping[str, Any]) -> str:
    """The ``verificationMethod`` of an issuer's Ed25519 key in its proofs: on a did:web issuer
    the DID document's ``Multikey`` method (``<did>#<publicKeyMultibase>``), on a URL issuer
    the key's own URL (``<base>/keys/<thumbprint>``, the VC-JWTs' header ``kid``)."""
    from credentials.keys import key_id_url, public_key_from_jwk

    _, key = public_key_from_jwk(jwk)
    if not isinstance(key, Ed25519PublicKey):
        raise MisuseError(f"{CRYPTOSUITE} needs an Ed25519 key")
    if issuer_base.startswith("did:"):
        return f"{issuer_base}#{multikey_from_public_key(key)}"
    return key_id_url(issuer_base, str(jwk["kid"]))


def secure_credential(
    credential: Mapping[str, Any], signer: Signer, *, verification_method: str, created: datetime
) -> dict[str, Any]:
    """The Data Integrity form of a credential: the VC-JWT's payload without its JWT claims
    (``iss``, ``jti``, ``sub``, ``nbf``, ``exp``, ``iat``...), secured with an
    ``eddsa-rdfc-2022`` proof (:func:`sign_data_integrity`)."""
    from credentials.jws import jwt_claim_names

    claims = jwt_claim_names()
    document = {k: v for k, v in credential.items() if k not in claims}
    return sign_data_integrity(
        document, signer, verification_method=verification_method, created=created
    )
