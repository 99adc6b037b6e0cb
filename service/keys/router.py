"""Signing keys: the public JWKS, rotation and marking a key compromised (admin)."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from credentials.lint import OB_CONTEXT, VCDM2_CONTEXT
from service.db import utcnow
from service.deps import AdminDep, SessionDep, SettingsDep
from service.errors import InvalidInput, NotFound, problem_responses
from service.keys import service as keys
from service.keys.schemas import KeyCompromise, KeyCompromised, KeyPublic

router = APIRouter()
_CACHE = {"Cache-Control": "public, max-age=60"}


@router.get(
    "/.well-known/jwks.json",
    operation_id="getJwks",
    tags=["verification"],
    responses={200: {"content": {"application/jwk-set+json": {"schema": {"type": "object"}}}}},
)
def get_jwks(session: SessionDep, settings: SettingsDep) -> Response:
    """The issuer's public keys, active and retired, each under the `kid` credentials name."""
    body = json.dumps(keys.jwks(session, settings))
    return Response(
        body, media_type="application/jwk-set+json", headers={"Cache-Control": "public, max-age=60"}
    )


@router.get(
    "/keys/{thumbprint}",
    operation_id="getPublicKey",
    tags=["verification"],
    responses={
        200: {
            "content": {
                "application/jwk+json": {"schema": {"type": "object"}},
                "application/ld+json": {"schema": {"type": "object"}},
            }
        },
        **problem_responses(404, 422),
    },
)
def get_public_key(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    thumbprint: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{43}$", description="RFC 7638")],
) -> Response:
    """One public key: what a credential's header `kid` and its Data Integrity proof's
    `verificationMethod` (`<base>/keys/<thumbprint>`) dereference to. A JWK, or with
    `Accept: application/ld+json` the key as a JSON-LD verification method (`Multikey` for
    Ed25519)."""
    if "application/ld+json" in request.headers.get("accept", ""):
        document = keys.verification_method_document(session, settings, thumbprint)
        return Response(json.dumps(document), media_type="application/ld+json", headers=_CACHE)
    body = json.dumps(keys.public_key(session, settings, thumbprint))
    return Response(body, media_type="application/jwk+json", headers=_CACHE)


@router.get(
    "/",
    operation_id="getIssuer",
    tags=["verification"],
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/ld+json": {"schema": {"type": "object"}},
            }
        },
        **problem_responses(404),
    },
)
def get_issuer(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """A URL issuer's id (the base URL) dereferences to the issuer: its Open Badges `Profile`
    (JSON), or with `Accept: application/ld+json` its controller document, the keys that may
    sign its credentials as `assertionMethod` (what Data Integrity verifiers check a proof's
    key against). 404 when the issuer is a did:web DID (see `/.well-known/did.json`)."""
    document = keys.controller_document(session, settings)
    if document is None:
        raise NotFound("The issuer is a did:web DID: its keys are in /.well-known/did.json.")
    if "application/ld+json" in request.headers.get("accept", ""):
        return Response(json.dumps(document), media_type="application/ld+json", headers=_CACHE)
    profile = {
        "@context": [VCDM2_CONTEXT, OB_CONTEXT],
        **keys.issuer_profile(settings).to_json(),
    }
    return Response(json.dumps(profile), media_type="application/json", headers=_CACHE)


@router.post(
    "/v1/keys/rotate",
    operation_id="rotateKey",
    tags=["keys"],
    responses=problem_responses(401, 403),
)
def rotate_key(session: SessionDep, settings: SettingsDep, principal: AdminDep) -> KeyPublic:
    """Make a new active signing key; the old one is retired but stays published."""
    key = keys.create_key(session, settings, actor=principal.actor)
    return KeyPublic(**keys.key_public(key, settings))


@router.post(
    "/v1/keys/{kid}/compromise",
    operation_id="compromiseKey",
    tags=["keys"],
    responses=problem_responses(401, 403, 404, 409, 422),
)
def compromise_key(
    kid: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    settings: SettingsDep,
    principal: AdminDep,
    body: KeyCompromise | None = None,
) -> KeyCompromised:
    """Distrust a key from a time (default now): what it signed from then on fails verification;
    the active key is replaced at once unless `rotate: false`. Audit-logged."""
    body = body or KeyCompromise()
    now = utcnow()
    if body.at is not None and body.at > now:
        raise InvalidInput("at must not be in the future.")
    key, successor = keys.compromise_key(
        session, settings, kid, body.at or now, actor=principal.actor, rotate=body.rotate
    )
    return KeyCompromised(
        key=KeyPublic(**keys.key_public(key, settings)),
        active=KeyPublic(**keys.key_public(successor, settings)) if successor else None,
    )
