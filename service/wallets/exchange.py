"""The VC-API exchange of an offer, for the Learner Credential Wallet (LCW): the wallet proves
control of its DID (DIDAuth: a presentation signed with its key, over the offer's challenge)
and receives the credential's Data Integrity form bound to that DID, once.

Two forms of the same exchange URL, as LCW speaks them:

- the LCW "request" deep link (``https://lcw.app/request.html?...&vc_request_url=...``): the
  wallet POSTs its signed presentation as the body and gets the credential back;
- VC-API: the wallet POSTs ``{}`` and gets a ``verifiablePresentationRequest`` (DIDAuthentication,
  challenge, domain), then POSTs ``{"verifiablePresentation": ...}`` and gets the credential in a
  presentation.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from credentials.data_integrity import verify_authentication
from credentials.errors import DataIntegrityError, KeyFormatError
from credentials.lint import VCDM2_CONTEXT
from credentials.multikey import public_key_from_multikey
from service.audit import service as audit
from service.errors import InvalidInput, NotFound, ServiceError
from service.issuance import service as issuance
from service.keys.service import KeyRing
from service.settings import Settings
from service.wallets import repository
from service.wallets.secrets import digest
from service.wallets.service import bound_copy, check_offerable


class ExchangeClosed(ServiceError):
    status = 410
    type = "exchange-closed"
    title = "This exchange is closed"


class PresentationRefused(ServiceError):
    status = 400
    type = "presentation-refused"
    title = "The presentation does not authenticate the wallet"


def _did_key(method: str) -> Any:
    """The Ed25519 key of a ``did:key:z6Mk…#…`` verification method (never fetched)."""
    did = method.split("#", 1)[0]
    if not did.startswith("did:key:z6Mk"):
        return None
    try:
        return public_key_from_multikey(did[len("did:key:") :])
    except KeyFormatError:
        return None


def exchange(
    session: Session,
    keyring: KeyRing,
    settings: Settings,
    exchange_id: str,
    body: object,
    *,
    now: datetime,
) -> dict[str, Any]:
    offer = repository.by_exchange(session, digest(exchange_id))
    if offer is None:
        raise NotFound("No such exchange.")
    if offer.revoked_at is not None or offer.delivered_at is not None:
        raise ExchangeClosed("This offer was already delivered, or withdrawn.")
    if offer.expires_at <= now:
        raise ExchangeClosed(f"This offer expired at {offer.expires_at:%Y-%m-%d}.")
    assert offer.challenge is not None
    if not isinstance(body, Mapping):
        raise InvalidInput("The body must be a JSON object.")
    exchange_url = f"{settings.base_url}/vc-api/exchanges/{exchange_id}"
    if not body:  # VC-API: the wallet asks what is wanted
        return {
            "verifiablePresentationRequest": {
                "query": [{"type": "DIDAuthentication", "acceptedMethods": [{"method": "key"}]}],
                "challenge": offer.challenge,
                "domain": settings.base_url,
                "interact": {
                    "service": [
                        {
                            "type": "UnmediatedPresentationService2021",
                            "serviceEndpoint": exchange_url,
                        }
                    ]
                },
            }
        }
    wrapped = "verifiablePresentation" in body
    presentation = body["verifiablePresentation"] if wrapped else body
    if not isinstance(presentation, Mapping) or "VerifiablePresentation" not in (
        presentation.get("type") or []
    ):
        raise InvalidInput("Send a verifiable presentation (DIDAuth) signed by your DID key.")
    holder = presentation.get("holder")
    holder = holder.get("id") if isinstance(holder, Mapping) else holder
    if not isinstance(holder, str) or not holder.startswith("did:key:"):
        raise PresentationRefused("The presentation's holder must be a did:key DID.")
    try:
        proof = verify_authentication(
            presentation,
            challenge=offer.challenge,
            domain=settings.base_url if wrapped else None,  # the request link asks for none
            resolve_key=_did_key,
        )
    except DataIntegrityError as exc:
        raise PresentationRefused(f"{exc.check}: {exc.reason}") from None
    if str(proof["verificationMethod"]).split("#", 1)[0] != holder:
        raise PresentationRefused("The presentation is signed by a key of another DID.")
    row = issuance.get_credential(session, offer.credential_id)
    check_offerable(row, now)
    if not repository.deliver(session, offer.id, to=holder, form="ldp_vc", now=now):
        raise ExchangeClosed("This offer was already delivered, or withdrawn.")
    credential = bound_copy(session, keyring, row, holder, "di", now=now)
    audit.record(
        session,
        actor=f"wallet:{holder[:150]}",
        action="credential.delivered",
        subject=f"credential:{row.id}",
        data={"offer": offer.id, "learner": row.learner_id, "to": holder, "format": "ldp_vc"},
    )
    if not wrapped:
        assert isinstance(credential, dict)
        return credential
    return {
        "verifiablePresentation": {
            "@context": [VCDM2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "verifiableCredential": [credential],
        }
    }
