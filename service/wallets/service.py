"""Offers of a credential to the earner's wallet, and the OID4VCI issuer (pre-authorized code
flow, OpenID for Verifiable Credential Issuance 1.0): metadata, token, nonce and credential.

What a wallet receives is a freshly signed copy of the award, bound to the wallet's DID as
``credentialSubject.id``: the same credential id, status entries and validity, so revoking
the award revokes the copy. Each offer delivers once; the audit chain records the delivery.
Services flush, never commit."""

from __future__ import annotations

import json
import secrets as random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlmodel import Session

from credentials import sign_credential
from credentials.holder import HolderProofError, verify_key_proof
from credentials.lint import OB_CONTEXT, VCDM2_CONTEXT
from service.audit import service as audit
from service.errors import Conflict, NotFound, OAuthError
from service.issuance import service as issuance
from service.issuance.context import Issuer
from service.keys.service import KeyRing
from service.models import Credential, CredentialOffer
from service.settings import Settings
from service.wallets import repository
from service.wallets.secrets import digest, new_code, new_nonce, new_tx_code, nonce_valid

PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYP = "openid4vci-proof+jwt"
PROOF_ALGORITHMS = ("ES256", "EdDSA")
TOKEN_LIFETIME = timedelta(minutes=10)
MAX_TX_FAILURES = 5
FORMATS = {"jwt_vc_json": "jwt", "ldp_vc": "di"}
_JWT_CLAIMS = ("iss", "jti", "sub", "nbf", "exp", "iat", "aud")
_TYPES = ["VerifiableCredential", "OpenBadgeCredential"]


class CredentialNotOfferable(Conflict):
    type = "credential-not-offerable"
    title = "This credential cannot be offered to a wallet"


# ------------------------------------------------------------------------------- metadata


def configuration_id(level_id: str, form: str) -> str:
    return f"{level_id}:{form}"


def issuer_metadata(session: Session, issuer: Issuer) -> dict[str, Any]:
    """``/.well-known/openid-credential-issuer``: one credential configuration per active level
    and format offered (``jwt_vc_json``; ``ldp_vc`` when the Data Integrity form is)."""
    settings = issuer.settings
    base = settings.base_url
    catalog = issuer.catalog.get(session)
    configurations: dict[str, Any] = {}
    for level_id in catalog.rules:
        level = catalog.levels[level_id]
        display: dict[str, Any] = {"name": level.name, "locale": "en"}
        if level.description:
            display["description"] = level.description[:300]
        image = level.image or f"{base}/achievements/{level.track}/{level.slug}/image.svg"
        if image.startswith("https://"):
            display["logo"] = {"uri": image, "alt_text": f"{level.name} badge"}
        common = {
            "scope": level_id,
            "cryptographic_binding_methods_supported": ["did:jwk", "did:key", "jwk"],
            "proof_types_supported": {
                "jwt": {"proof_signing_alg_values_supported": list(PROOF_ALGORITHMS)}
            },
            "credential_metadata": {"display": [display]},
        }
        configurations[configuration_id(level_id, "jwt_vc_json")] = {
            "format": "jwt_vc_json",
            "credential_signing_alg_values_supported": [settings.signing_algorithm],
            "credential_definition": {"type": _TYPES},
            **common,
        }
        if "di" in settings.credential_formats:
            configurations[configuration_id(level_id, "ldp_vc")] = {
                "format": "ldp_vc",
                "credential_signing_alg_values_supported": ["eddsa-rdfc-2022"],
                "credential_definition": {"@context": [VCDM2_CONTEXT, OB_CONTEXT], "type": _TYPES},
                **common,
            }
    return {
        "credential_issuer": base,
        "credential_endpoint": f"{base}/oid4vci/credential",
        "nonce_endpoint": f"{base}/oid4vci/nonce",
        "display": [{"name": settings.issuer_name, "locale": "en"}],
        "credential_configurations_supported": configurations,
    }


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    """``/.well-known/oauth-authorization-server`` (RFC 8414): the issuer is its own
    authorization server, for the pre-authorized code grant only, without client auth."""
    base = settings.base_url
    return {
        "issuer": base,
        "token_endpoint": f"{base}/oid4vci/token",
        "grant_types_supported": [PRE_AUTHORIZED],
        "pre-authorized_grant_anonymous_access_supported": True,
        "token_endpoint_auth_methods_supported": ["none"],
        "response_types_supported": [],
    }


# ------------------------------------------------------------------------------- offers


@dataclass(frozen=True)
class NewOffer:
    offer: CredentialOffer
    offer_uri: str
    tx_code: str | None
    exchange_url: str  # the VC-API exchange (Learner Credential Wallet)
    lcw_link: str  # the LCW deep link to it (the "request" form every LCW version reads)


def _offered_configurations(settings: Settings, credential: Credential) -> list[str]:
    forms = ["jwt_vc_json"] + (["ldp_vc"] if "di" in settings.credential_formats else [])
    return [configuration_id(credential.level_id, form) for form in forms]


def check_offerable(credential: Credential, now: datetime) -> None:
    if credential.status == "revoked":
        raise CredentialNotOfferable("A revoked credential is not offered to wallets.")
    if credential.superseded_by:
        raise CredentialNotOfferable(
            f"This credential was renewed: offer its successor {credential.superseded_by}."
        )
    if credential.valid_until is not None and credential.valid_until <= now:
        raise CredentialNotOfferable("An expired credential is not offered to wallets.")


def create_offer(
    session: Session,
    settings: Settings,
    credential_id: str,
    *,
    actor: str,
    tx_code: bool,
    now: datetime,
) -> NewOffer:
    """An offer of a live credential: a one-time pre-authorized code (and, if asked, a
    transaction code to send the earner apart), open for ``CREDENCE_OFFER_DAYS``."""
    credential = issuance.get_credential(session, credential_id)
    check_offerable(credential, now)
    code = new_code()
    exchange = new_code()
    challenge = str(uuid.uuid4())
    transaction = new_tx_code() if tx_code else None
    offer = repository.add(
        session,
        CredentialOffer(
            id="off_" + random.token_hex(12),
            credential_id=credential.id,
            learner_id=credential.learner_id,
            code_hash=digest(code),
            tx_code_hash=digest(transaction) if transaction else None,
            exchange_hash=digest(exchange),
            challenge=challenge,
            created_at=now,
            expires_at=now + timedelta(days=settings.offer_days),
            created_by=actor,
        ),
    )
    audit.record(
        session,
        actor=actor,
        action="credential.offered",
        subject=f"credential:{credential.id}",
        data={"offer": offer.id, "learner": credential.learner_id, "tx_code": tx_code},
    )
    grant: dict[str, Any] = {"pre-authorized_code": code}
    if transaction:
        grant["tx_code"] = {
            "input_mode": "numeric",
            "length": len(transaction),
            "description": "The code in the email about this credential",
        }
    document = {
        "credential_issuer": settings.base_url,
        "credential_configuration_ids": _offered_configurations(settings, credential),
        "grants": {PRE_AUTHORIZED: grant},
    }
    encoded = quote(json.dumps(document, separators=(",", ":")), safe="")
    exchange_url = f"{settings.base_url}/vc-api/exchanges/{exchange}"
    lcw = urlencode(
        {
            "issuer": urlsplit(settings.base_url).netloc,
            "auth_type": "bearer",
            "challenge": challenge,
            "vc_request_url": exchange_url,
        }
    )
    return NewOffer(
        offer,
        "openid-credential-offer://?credential_offer=" + encoded,
        transaction,
        exchange_url,
        "https://lcw.app/request.html?" + lcw,
    )


def offers_of(session: Session, credential_id: str) -> list[CredentialOffer]:
    issuance.get_credential(session, credential_id)
    return repository.of_credential(session, credential_id)


def revoke_offer(session: Session, offer_id: str, *, actor: str, now: datetime) -> None:
    offer = repository.get(session, offer_id)
    if offer is None:
        raise NotFound(f"No offer {offer_id!r}.")
    if offer.revoked_at is None and offer.delivered_at is None:
        repository.revoke(session, offer.id, now)
        audit.record(
            session,
            actor=actor,
            action="credential.offer_revoked",
            subject=f"credential:{offer.credential_id}",
            data={"offer": offer.id},
        )


def offer_status(offer: CredentialOffer, now: datetime) -> str:
    if offer.delivered_at is not None:
        return "delivered"
    if offer.revoked_at is not None:
        return "revoked"
    if offer.expires_at <= now:
        return "expired"
    return "redeemed" if offer.code_used_at is not None else "open"


# ------------------------------------------------------------------------------- OID4VCI


def token(
    session: Session, form: Mapping[str, str], *, now: datetime
) -> dict[str, Any] | OAuthError:
    """The token endpoint: a pre-authorized code (and its transaction code) for an access
    token, once. A wrong transaction code is counted (five end the offer): it is *returned*,
    not raised, so that the count commits."""
    if form.get("grant_type") != PRE_AUTHORIZED:
        raise OAuthError("unsupported_grant_type", f"grant_type must be {PRE_AUTHORIZED}")
    code = form.get("pre-authorized_code")
    if not code:
        raise OAuthError("invalid_request", "pre-authorized_code is missing")
    offer = repository.by_code(session, digest(code))
    if offer is None:
        raise OAuthError("invalid_grant", "this pre-authorized code is not known")
    if offer.revoked_at is not None:
        raise OAuthError("invalid_grant", "this offer was withdrawn")
    if offer.code_used_at is not None:
        raise OAuthError("invalid_grant", "this pre-authorized code was already used")
    if offer.expires_at <= now:
        raise OAuthError("invalid_grant", f"this offer expired at {offer.expires_at:%Y-%m-%d}")
    if offer.tx_code_hash is not None:
        given = form.get("tx_code") or form.get("user_pin")
        if not given:
            raise OAuthError("invalid_request", "this offer needs its tx_code")
        if offer.tx_code_failures >= MAX_TX_FAILURES:
            raise OAuthError("invalid_grant", "too many wrong transaction codes: ask again")
        if not random.compare_digest(digest(given), offer.tx_code_hash):
            repository.count_tx_failure(session, offer.id)
            return OAuthError("invalid_grant", "the transaction code is wrong")
    access = new_code()
    expires = now + TOKEN_LIFETIME
    won = repository.exchange_code(
        session, offer.id, token_hash=digest(access), token_expires_at=expires, now=now
    )
    if not won:  # another request spent it first
        raise OAuthError("invalid_grant", "this pre-authorized code was already used")
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": int(TOKEN_LIFETIME.total_seconds()),
    }


def nonce(settings: Settings) -> dict[str, Any]:
    value, seconds = new_nonce(settings.kek_bytes)
    return {"c_nonce": value, "c_nonce_expires_in": seconds}


def _invalid_token(description: str) -> OAuthError:
    error = OAuthError("invalid_token", description, status=401)
    error.headers = {
        "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
    }
    return error


def _proof(body: Mapping[str, Any]) -> str:
    proofs = body.get("proofs")
    if isinstance(proofs, Mapping):
        jwts = proofs.get("jwt")
        if set(proofs) != {"jwt"} or not isinstance(jwts, list) or len(jwts) != 1:
            raise OAuthError("invalid_proof", "proofs must hold one jwt proof")
        found = jwts[0]
    elif isinstance(body.get("proof"), Mapping):  # the drafts' single proof
        proof = body["proof"]
        if proof.get("proof_type") != "jwt":
            raise OAuthError("invalid_proof", "proof_type must be jwt")
        found = proof.get("jwt")
    else:
        raise OAuthError("invalid_proof", "a key proof (proofs.jwt) is required")
    if not isinstance(found, str):
        raise OAuthError("invalid_proof", "the jwt proof must be a compact JWS")
    return found


def credential(
    session: Session,
    keyring: KeyRing,
    settings: Settings,
    authorization: str | None,
    body: object,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The credential endpoint: check the access token and the wallet's key proof, then deliver
    the credential bound to the wallet's DID, once."""
    scheme, _, access = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not access:
        raise _invalid_token("an access token (Authorization: Bearer) is required")
    offer = repository.by_token(session, digest(access.strip()))
    if offer is None or offer.token_expires_at is None or offer.token_expires_at <= now:
        raise _invalid_token("the access token is unknown or expired")
    if offer.delivered_at is not None or offer.revoked_at is not None:
        raise _invalid_token("this offer was already delivered (or withdrawn)")
    if not isinstance(body, Mapping):
        raise OAuthError("invalid_credential_request", "the body must be a JSON object")
    row = issuance.get_credential(session, offer.credential_id)
    wanted = body.get("credential_configuration_id")
    offered = _offered_configurations(settings, row)
    if wanted not in offered:
        raise OAuthError(
            "unknown_credential_configuration",
            f"credential_configuration_id must be one of {', '.join(offered)}",
        )
    form = str(wanted).rpartition(":")[2]
    try:
        proof = verify_key_proof(
            _proof(body),
            typ=PROOF_TYP,
            audience=settings.base_url,
            now=now,
            allowed_algorithms=PROOF_ALGORITHMS,
            check_nonce=lambda value: nonce_valid(settings.kek_bytes, value),
        )
    except HolderProofError as exc:
        raise OAuthError(exc.code, exc.reason) from None
    check_offerable(row, now)
    if not repository.deliver(session, offer.id, to=proof.holder, form=form, now=now):
        raise _invalid_token("this offer was already delivered (or withdrawn)")
    delivered = bound_copy(session, keyring, row, proof.holder, FORMATS[form], now=now)
    audit.record(
        session,
        actor=f"wallet:{proof.holder[:150]}",
        action="credential.delivered",
        subject=f"credential:{row.id}",
        data={"offer": offer.id, "learner": row.learner_id, "to": proof.holder, "format": form},
    )
    return {"credentials": [{"credential": delivered}]}


def bound_copy(
    session: Session, keyring: KeyRing, row: Credential, holder: str, form: str, *, now: datetime
) -> str | dict[str, Any]:
    """The award, signed again with ``credentialSubject.id`` = ``holder``: same id, status
    entries, validity and claims. ``form``: ``jwt`` (VC-JWT) or ``di`` (Data Integrity)."""
    payload = issuance.payload_of(row.jwt)
    document = {k: v for k, v in payload.items() if k not in _JWT_CLAIMS}
    document["credentialSubject"] = {**document["credentialSubject"], "id": holder}
    jwt = sign_credential(document, keyring.active_signer(session), now=now)
    return jwt if form == "jwt" else keyring.data_integrity(session, jwt)
