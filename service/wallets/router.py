"""Wallet doors: the offers API (create, list, withdraw) and the OID4VCI issuer endpoints a
wallet calls (metadata, token, nonce, credential). The OID4VCI endpoints answer errors in the
OAuth shape wallets parse (``OAuthError``), not problem+json."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

import segno
from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from service.auth.service import Principal
from service.db import utcnow
from service.deps import SessionDep, SettingsDep, require
from service.errors import InvalidInput, OAuthError, problem_responses
from service.issuance.context import IssuerDep
from service.keys.deps import KeyRingDep
from service.models import CredentialOffer
from service.wallets import exchange, service
from service.wallets.limits import RateLimiter
from service.wallets.schemas import OfferCreate, OfferCreated, OfferList, OfferPublic

router = APIRouter(tags=["wallets"], responses=problem_responses(401, 403))
WriteDep = Annotated[Principal, Depends(require("credentials:write"))]
ReadDep = Annotated[Principal, Depends(require("credentials:read"))]


def _public(offer: CredentialOffer) -> OfferPublic:
    return OfferPublic(
        id=offer.id,
        credential_id=offer.credential_id,
        status=service.offer_status(offer, utcnow()),
        tx_code_required=offer.tx_code_hash is not None,
        created_at=offer.created_at,
        expires_at=offer.expires_at,
        delivered_at=offer.delivered_at,
        delivered_to=offer.delivered_to,
        delivered_format=offer.delivered_format,
    )


@router.post(
    "/v1/credentials/{credential_id}/offers",
    operation_id="createCredentialOffer",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
)
def create_offer(
    credential_id: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: WriteDep,
    body: OfferCreate | None = None,
) -> OfferCreated:
    """Offer the credential to the earner's wallet: an OID4VCI credential offer (URI and QR
    codes) and the same offer as a VC-API exchange with its Learner Credential Wallet link;
    delivered once, by either, open for CREDENCE_OFFER_DAYS. Its secrets are shown only here."""
    asked = body or OfferCreate()
    made = service.create_offer(
        session,
        settings,
        credential_id,
        actor=principal.actor,
        tx_code=asked.tx_code,
        now=utcnow(),
    )
    qr = segno.make(made.offer_uri, error="m")
    return OfferCreated(
        **_public(made.offer).model_dump(),
        offer_uri=made.offer_uri,
        tx_code=made.tx_code,
        qr_svg=qr.svg_data_uri(scale=4),
        qr_png=qr.png_data_uri(scale=4),
        exchange_url=made.exchange_url,
        lcw_link=made.lcw_link,
        lcw_qr_png=segno.make(made.lcw_link, error="m").png_data_uri(scale=4),
    )


@router.get(
    "/v1/credentials/{credential_id}/offers",
    operation_id="listCredentialOffers",
    responses=problem_responses(404, 422),
)
def list_offers(credential_id: str, session: SessionDep, _: ReadDep) -> OfferList:
    """The credential's offers, newest first: open, redeemed, delivered (to which DID),
    expired or withdrawn."""
    return OfferList(items=[_public(o) for o in service.offers_of(session, credential_id)])


@router.delete(
    "/v1/offers/{offer_id}",
    operation_id="revokeCredentialOffer",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404),
)
def revoke_offer(offer_id: str, session: SessionDep, principal: WriteDep) -> Response:
    """Withdraw an offer that has not been delivered (its code and token stop working)."""
    service.revoke_offer(session, offer_id, actor=principal.actor, now=utcnow())
    return Response(status_code=204)


# ----------------------------------------------------------------------------- OID4VCI

oid4vci_router = APIRouter(tags=["wallets"])
_NO_STORE = {"Cache-Control": "no-store"}
_OAUTH_ERROR: dict[str, Any] = {
    "description": "OAuth error (RFC 6749 §5.2)",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "error_description": {"type": "string"},
                },
            }
        }
    },
}
#: A body the route reads itself (``BodyDep``), documented: any JSON object.
_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_JSON_OBJECT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}}
}


def _json(document: dict[str, Any], **headers: str) -> Response:
    return Response(json.dumps(document), media_type="application/json", headers=headers or None)


@oid4vci_router.get(
    "/.well-known/openid-credential-issuer",
    operation_id="getCredentialIssuerMetadata",
    responses=_JSON_OBJECT,
)
def get_issuer_metadata(session: SessionDep, issuer: IssuerDep) -> Response:
    """OID4VCI Credential Issuer Metadata: a configuration per level and format offered."""
    return _json(service.issuer_metadata(session, issuer), **{"Cache-Control": "max-age=300"})


@oid4vci_router.get(
    "/.well-known/oauth-authorization-server",
    operation_id="getAuthorizationServerMetadata",
    responses=_JSON_OBJECT,
)
def get_authorization_server_metadata(settings: SettingsDep) -> Response:
    """OAuth 2.0 Authorization Server Metadata (RFC 8414): the pre-authorized code grant."""
    return _json(service.authorization_server_metadata(settings))


async def get_token_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.token_limiter
    return limiter


async def read_body(request: Request) -> bytes:
    """The raw body, read on the event loop, so that the route itself can be a plain function
    run on the thread pool (its database work must never block the loop)."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(read_body)]


@oid4vci_router.post(
    "/oid4vci/token",
    operation_id="oid4vciToken",
    responses={**_JSON_OBJECT, 400: _OAUTH_ERROR, 429: _OAUTH_ERROR},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type", "pre-authorized_code"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": [service.PRE_AUTHORIZED]},
                            "pre-authorized_code": {"type": "string"},
                            "tx_code": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
def oid4vci_token(
    request: Request,
    raw: BodyDep,
    session: SessionDep,
    limiter: Annotated[RateLimiter, Depends(get_token_limiter)],
) -> Response:
    """OID4VCI token endpoint: the offer's pre-authorized code (and transaction code) for an
    access token, once. Rate-limited per client address."""
    wait = limiter.allow(request.client.host if request.client else "?")
    if wait is not None:
        error = OAuthError("temporarily_unavailable", "too many token requests", status=429)
        error.headers = {"Retry-After": str(max(1, round(wait)))}
        raise error
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise OAuthError("invalid_request", "send the token request as a form (RFC 6749)")
    try:
        pairs = parse_qsl(raw.decode(), strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form body cannot be read") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise OAuthError("invalid_request", "a parameter is repeated (RFC 6749 §3.2)")
    answer = service.token(session, form, now=utcnow())
    if isinstance(answer, OAuthError):  # counted (a wrong transaction code): commit, then say so
        body = {"error": answer.error, "error_description": answer.detail}
        return JSONResponse(body, status_code=answer.status, headers=_NO_STORE)
    return _json(answer, **_NO_STORE)


@oid4vci_router.post("/oid4vci/nonce", operation_id="oid4vciNonce", responses=_JSON_OBJECT)
def oid4vci_nonce(settings: SettingsDep) -> Response:
    """OID4VCI nonce endpoint: a fresh c_nonce (five minutes) for the wallet's key proof."""
    return _json(service.nonce(settings), **_NO_STORE)


@oid4vci_router.post(
    "/oid4vci/credential",
    operation_id="oid4vciCredential",
    responses={**_JSON_OBJECT, 400: _OAUTH_ERROR, 401: _OAUTH_ERROR},
    openapi_extra=_JSON_BODY,
)
def oid4vci_credential(
    request: Request,
    raw: BodyDep,
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> Response:
    """OID4VCI credential endpoint: with the access token and a key proof (`proofs.jwt`, bound
    to a c_nonce and this issuer), the credential bound to the wallet's DID, once."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        body = None  # refused as invalid_credential_request, after the access token is checked
    answer = service.credential(
        session,
        keyring,
        settings,
        request.headers.get("authorization"),
        body,
        now=utcnow(),
    )
    return _json(answer, **_NO_STORE)


@oid4vci_router.post(
    "/vc-api/exchanges/{exchange_id}",
    operation_id="vcApiExchange",
    responses={**_JSON_OBJECT, **problem_responses(400, 404, 410, 422)},
    openapi_extra=_JSON_BODY,
)
def vc_api_exchange(
    exchange_id: Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_-]+$")],
    raw: BodyDep,
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> Response:
    """An offer's VC-API exchange (the Learner Credential Wallet): `{}` asks for a DIDAuth
    presentation request; a presentation signed by the wallet's did:key over the challenge
    (bare, or as `verifiablePresentation`) gets the Data Integrity credential bound to it, once."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not JSON.") from None
    answer = exchange.exchange(session, keyring, settings, exchange_id, body, now=utcnow())
    # LCW decodes HTML entities in the answer before parsing it: no '&' may reach it as such
    text = json.dumps(answer).replace("&", "\\u0026")
    return Response(text, media_type="application/json", headers=_NO_STORE)
