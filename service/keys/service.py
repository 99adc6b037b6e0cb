"""Signing keys: created encrypted, rotated, published; signers decrypted once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlmodel import Session

from credentials import (
    IssuerProfile,
    LocalSigner,
    ResolvedKey,
    Signer,
    decrypt_private_key,
    did_web_document,
    encrypt_private_key,
    generate_signing_key,
    jwks_document,
    key_id_url,
    multikey_from_jwk,
    public_jwk,
    thumbprint_of_kid,
)
from credentials._encoding import parse_datetime
from credentials.data_integrity import proof_method_id, secure_credential
from credentials.jws import parse_compact
from service.audit.service import lock_chain, record
from service.db import utcnow
from service.errors import Conflict, NotFound, ServiceUnavailable
from service.keys import repository
from service.models import SigningKey
from service.settings import Settings


class NoSigningKey(ServiceUnavailable):
    type = "no-signing-key"
    title = "No active signing key"


def issuer_base(settings: Settings) -> str:
    """What ``kid`` URLs hang off: the did:web DID when the issuer is one, else the base URL."""
    issuer = settings.effective_issuer_id
    return issuer if issuer.startswith("did:web:") else settings.base_url


def issuer_profile(settings: Settings) -> IssuerProfile:
    """The issuer as its credentials name it (and as its id serves it, for a URL issuer)."""
    return IssuerProfile(
        id=settings.effective_issuer_id, name=settings.issuer_name, url=settings.base_url
    )


def create_key(
    session: Session, settings: Settings, *, actor: str, alg: str | None = None
) -> SigningKey:
    """Make a new active key of ``alg`` (default: the setting) and retire the active one of
    that algorithm (a rotation). Keys of other algorithms stay active: an ES256 key signs the
    VC-JWTs while an Ed25519 key signs the Data Integrity proofs (:meth:`KeyRing.proof_key`)."""
    algorithm = alg or settings.signing_algorithm
    private = generate_signing_key(algorithm)  # type: ignore[arg-type]
    jwk = public_jwk(private)
    # Serialise rotations (PostgreSQL) so two at once never leave two active keys.
    lock_chain(session)
    now = utcnow()
    retired = []
    previous = repository.active_keys(session, algorithm)
    for old in previous:
        old.state = "retired"
        old.retired_at = now
        retired.append(old.kid)
    key = SigningKey(
        kid=jwk["kid"],
        alg=algorithm,
        state="active",
        public_jwk=jwk,
        private_key_encrypted=encrypt_private_key(private, settings.kek_bytes, jwk["kid"]),
        created_at=now,
    )
    repository.save(session, *previous, key)
    record(
        session,
        actor=actor,
        action="key.rotated" if retired else "key.created",
        subject=f"key:{key.kid}",
        data={"alg": algorithm, "retired": retired},
    )
    return key


def mark_compromised(session: Session, kid: str, at: datetime, *, actor: str) -> SigningKey:
    lock_chain(session)
    key = repository.get(session, kid, fresh=True)
    if key is None:
        raise NotFound(f"No signing key {kid!r}.")
    if key.compromised_at is not None:
        raise Conflict(f"Key {kid} was already marked compromised at {key.compromised_at}.")
    key.compromised_at = at
    if key.state == "active":
        key.state = "retired"
        key.retired_at = utcnow()
    repository.save(session, key)
    record(
        session,
        actor=actor,
        action="key.compromised",
        subject=f"key:{kid}",
        data={"compromised_at": at.isoformat()},
    )
    return key


def compromise_key(
    session: Session, settings: Settings, kid: str, at: datetime, *, actor: str, rotate: bool
) -> tuple[SigningKey, SigningKey | None]:
    """Distrust ``kid`` from ``at``; if it was the active key and ``rotate``, a new key takes
    over in the same transaction (so issuance never stops)."""
    lock_chain(session)  # decide on the key as the last committed writer left it
    key = repository.get(session, kid, fresh=True)
    was_active = key is not None and key.state == "active"
    compromised = mark_compromised(session, kid, at, actor=actor)
    successor = (
        create_key(session, settings, actor=actor, alg=compromised.alg)
        if was_active and rotate
        else None
    )
    return compromised, successor


def list_keys(session: Session) -> list[SigningKey]:
    return repository.all_keys(session)


def jwks(session: Session, settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Active and retired public keys (compromised ones stay listed: their signatures fail),
    each under the ``kid`` credentials name in their header (``key_id_url``)."""
    base = issuer_base(settings)
    return jwks_document(
        [{**k.public_jwk, "kid": key_id_url(base, k.kid)} for k in list_keys(session)]
    )


def public_key(session: Session, settings: Settings, thumbprint: str) -> dict[str, Any]:
    """One published key as a JWK whose ``kid`` is its own URL; NotFound for any other."""
    key = repository.get(session, thumbprint)
    if key is None:
        raise NotFound(f"No published key {thumbprint!r}.")
    return {**key.public_jwk, "kid": key_id_url(issuer_base(settings), key.kid)}


MULTIKEY_CONTEXT = "https://w3id.org/security/multikey/v1"
JWK_CONTEXT = "https://w3id.org/security/jwk/v1"
DID_CONTEXT = "https://www.w3.org/ns/did/v1"


def _verification_method(key: SigningKey, settings: Settings) -> dict[str, Any]:
    """A key as a verification method of a URL issuer: ``Multikey`` for Ed25519 (what Data
    Integrity verifiers resolve), ``JsonWebKey`` otherwise; its id is its URL."""
    method: dict[str, Any] = {
        "id": key_id_url(issuer_base(settings), key.kid),
        "controller": settings.effective_issuer_id,
    }
    if key.alg == "EdDSA":
        return method | {
            "type": "Multikey",
            "publicKeyMultibase": multikey_from_jwk(key.public_jwk),
        }
    return method | {"type": "JsonWebKey", "publicKeyJwk": key.public_jwk}


def verification_method_document(
    session: Session, settings: Settings, thumbprint: str
) -> dict[str, Any]:
    """One published key as a JSON-LD verification method (what a Data Integrity verifier gets
    when it dereferences a proof's ``verificationMethod``); NotFound for any other."""
    key = repository.get(session, thumbprint)
    if key is None:
        raise NotFound(f"No published key {thumbprint!r}.")
    method = _verification_method(key, settings)
    context = MULTIKEY_CONTEXT if method["type"] == "Multikey" else JWK_CONTEXT
    return {"@context": context, **method}


def controller_document(session: Session, settings: Settings) -> dict[str, Any] | None:
    """A URL issuer's controller document, served at its id: the keys that may sign its
    credentials (``assertionMethod``), so a Data Integrity verifier can tie a proof's key to
    the credential's issuer. None when the issuer is a did:web DID (its DID document does
    this)."""
    issuer = settings.effective_issuer_id
    if issuer.startswith("did:"):
        return None
    methods = [_verification_method(k, settings) for k in list_keys(session)]
    return {
        "@context": [DID_CONTEXT, MULTIKEY_CONTEXT, JWK_CONTEXT],
        "id": issuer,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }


def did_document(session: Session, settings: Settings) -> dict[str, Any] | None:
    """The did:web DID document listing the same keys as the JWKS (None: issuer is no DID)."""
    issuer = settings.effective_issuer_id
    if not issuer.startswith("did:web:"):
        return None
    return did_web_document(issuer, [k.public_jwk for k in list_keys(session)])


class ProofKey(NamedTuple):
    """The key that signs Data Integrity proofs, its ``verificationMethod`` and its birth."""

    signer: LocalSigner
    method: str
    created_at: datetime


@dataclass
class KeyRing:
    """Per-process cache of decrypted signers; the database says which key is active."""

    settings: Settings

    def __post_init__(self) -> None:
        self._signers: dict[str, LocalSigner] = {}
        self._lock = threading.Lock()

    def active_signer(self, session: Session) -> Signer:
        """The VC-JWT signer: the active key of the configured algorithm, else any active key
        (a deployment that changed the setting keeps signing until it makes a key)."""
        row = repository.active_kid(session, prefer=self.settings.signing_algorithm)
        if row is None:
            raise NoSigningKey(
                "There is no active signing key: run `credence keys create` (or start in "
                "development, which creates one)."
            )
        return self.signer(session, row)

    def proof_key(self, session: Session) -> ProofKey:
        """The Data Integrity signer (``eddsa-rdfc-2022``): the active Ed25519 key."""
        kid = repository.active_kid(session, only="EdDSA")
        key = repository.get(session, kid) if kid is not None else None
        if key is None:
            raise NoSigningKey(
                "There is no active Ed25519 key for Data Integrity proofs: run `credence keys "
                "create --alg EdDSA` (development starts with one)."
            )
        method = proof_method_id(issuer_base(self.settings), key.public_jwk)
        return ProofKey(self.signer(session, key.kid), method, key.created_at)

    def data_integrity(self, session: Session, jwt: str) -> dict[str, Any]:
        """The Data Integrity form of a VC-JWT this issuer signed (a credential or a status
        list): the same credential signed by the active Ed25519 key, ``created`` = when it was
        issued (``iat``, else ``validFrom``), or the key's birth for a key made later, so the
        same key gives the same bytes each time."""
        payload = parse_compact(jwt, len(jwt)).payload  # our own, stored when signed
        proof = self.proof_key(session)
        issued = (
            datetime.fromtimestamp(payload["iat"], UTC)
            if "iat" in payload
            else parse_datetime(payload["validFrom"])
        )
        created = max(issued, proof.created_at.replace(microsecond=0))
        return secure_credential(
            payload, proof.signer, verification_method=proof.method, created=created
        )

    def signer(self, session: Session, kid: str) -> LocalSigner:
        cached = self._signers.get(kid)
        if cached is not None:
            return cached
        key = repository.get(session, kid)
        if key is None:
            raise NotFound(f"No signing key {kid!r}.")
        private = decrypt_private_key(key.private_key_encrypted, self.settings.kek_bytes, kid)
        signer = LocalSigner(private, issuer_base=issuer_base(self.settings))
        with self._lock:
            self._signers[kid] = signer
        return signer

    def resolver(self, session: Session) -> Any:
        """A ``resolve_key`` for :func:`credentials.verify` over this issuer's keys."""
        keys = {k.kid: k for k in list_keys(session)}
        base = issuer_base(self.settings)

        def resolve(kid_url: str) -> ResolvedKey | None:
            thumbprint = thumbprint_of_kid(base, kid_url)
            key = keys.get(thumbprint) if thumbprint is not None else None
            if key is None:
                return None
            return ResolvedKey(jwk=key.public_jwk, compromised_at=key.compromised_at)

        return resolve


def ensure_development_key(session: Session, settings: Settings) -> None:
    """In development, the first start creates a signing key so issuance just works."""
    if settings.env != "development":
        return
    # Several processes starting at once on one PostgreSQL would each see no key and make one
    # (two "active" keys); the chain's append lock makes the check-then-create atomic.
    lock_chain(session)
    for alg in dict.fromkeys((settings.signing_algorithm, "EdDSA")):  # JWTs, then DI proofs
        if repository.active_kid(session, only=alg) is None:
            create_key(session, settings, actor="system:startup", alg=alg)


def key_public(key: SigningKey, settings: Settings) -> dict[str, Any]:
    """What the keys API shows of a key (see ``KeyPublic``)."""
    return {
        "kid": key.kid,
        "key_id": key_id_url(issuer_base(settings), key.kid),
        "alg": key.alg,
        "state": key.state,
        "created_at": key.created_at,
        "retired_at": key.retired_at,
        "compromised_at": key.compromised_at,
    }
