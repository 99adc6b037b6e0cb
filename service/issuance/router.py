"""Credentials API: list, read, revoke / suspend / reinstate, manual award, level re-evaluation
and learner progress."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from service.auth.service import Principal
from service.core.ids import LEARNER_ID_PATTERN, LEVEL_ID_PATTERN
from service.core.media import VC_DATA_INTEGRITY, VC_JWT, offered, wanted_form
from service.core.pagination import (
    BY_TIME_AND_TEXT,
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from service.core.times import Instant
from service.db import utcnow
from service.deps import SessionDep, SettingsDep, require
from service.errors import BadRequest, problem_responses
from service.issuance import service
from service.issuance.context import IssuerDep
from service.issuance.engine_facts import LevelProgress, Missing
from service.issuance.page import page_headers, render
from service.issuance.schemas import (
    CourseNeeded,
    CredentialDetail,
    CredentialPublic,
    EvaluationReport,
    LearnerProgress,
    LevelProgressPublic,
    ManualAward,
    MissingPublic,
    StatusChange,
)
from service.keys.deps import KeyRingDep
from service.learners import service as learners
from service.models import Credential
from service.settings import Settings
from service.verification.deps import VerifierDep

router = APIRouter(tags=["credentials"], responses=problem_responses(401, 403))
ReadDep = Annotated[Principal, Depends(require("credentials:read"))]
WriteDep = Annotated[Principal, Depends(require("credentials:write"))]


def _file(media_type: str, kind: str, *problems: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of a public document: its media type, and the problems it answers."""
    return {200: {"content": {media_type: {"schema": {"type": kind}}}}} | problem_responses(
        *problems
    )


def credential_public(row: Credential, now: datetime | None = None) -> CredentialPublic:
    now = now or utcnow()
    return CredentialPublic(
        id=row.id,
        learner_id=row.learner_id,
        level=row.level_id,
        level_version=row.level_version,
        status=row.status,
        expired=row.valid_until is not None and row.valid_until <= now,
        superseded_by=row.superseded_by,
        issued_at=row.issued_at,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status_changed_at=row.status_changed_at,
        status_reason=row.status_reason,
        renewal=row.renewal,
        manual=row.manual,
        evidence=row.evidence,
    )


def credential_detail(row: Credential, settings: Settings) -> CredentialDetail:
    claims = service.payload_of(row.jwt)
    for claim in ("iss", "jti", "sub", "nbf", "exp", "iat"):
        claims.pop(claim, None)
    return CredentialDetail(
        **credential_public(row).model_dump(),
        credential=claims,
        jwt=row.jwt,
        page_url=settings.base_url + service.page_path(row.id),
        linkedin_url=service.linkedin_url(
            settings, claims["credentialSubject"]["achievement"]["name"], row
        ),
    )


@router.get(
    "/v1/credentials", operation_id="listCredentials", responses=problem_responses(400, 422)
)
def list_credentials(
    session: SessionDep,
    _: ReadDep,
    learner_id: Annotated[str | None, Query(pattern=LEARNER_ID_PATTERN)] = None,
    level: Annotated[str | None, Query(pattern=LEVEL_ID_PATTERN)] = None,
    status_filter: Annotated[
        Literal["active", "suspended", "revoked", "expired"] | None, Query(alias="status")
    ] = None,
    expiring_before: Annotated[Instant | None, Query(description="valid_until before this")] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[CredentialPublic]:
    """Credentials, newest first, filtered by learner, level, status or expiry."""
    if expiring_before is not None and expiring_before.tzinfo is None:
        raise BadRequest("expiring_before needs a time zone")
    now = utcnow()
    rows = service.list_credentials(
        session,
        learner_id=learner_id,
        level=level,
        status=status_filter,
        expiring_before=expiring_before,
        after=decode_cursor(cursor, BY_TIME_AND_TEXT),
        limit=limit,
        now=now,
    )
    next_cursor = (
        encode_cursor([rows[-1].issued_at.isoformat(), rows[-1].id]) if len(rows) == limit else None
    )
    return Page[CredentialPublic](
        items=[credential_public(r, now) for r in rows], next_cursor=next_cursor
    )


@router.get(
    "/v1/credentials/{credential_id}",
    operation_id="getCredential",
    response_model=CredentialDetail,
    responses=problem_responses(
        404,
        422,
        503,
        extra={
            200: {
                "content": {
                    VC_JWT: {"schema": {"type": "string"}},
                    VC_DATA_INTEGRITY: {"schema": {"type": "object"}},
                }
            }
        },
    ),
)
def get_credential(
    credential_id: str,
    request: Request,
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
    _: ReadDep,
    format: Annotated[
        Literal["json", "jwt", "di"] | None,
        Query(
            description="`jwt`: just the VC-JWT; `di`: the same credential as JSON-LD with an "
            "eddsa-rdfc-2022 Data Integrity proof; `json` (default): metadata, the decoded "
            "credential and the JWT. Or ask with `Accept: application/vc+jwt`, "
            "`application/vc` or `application/vc+ld+json`."
        ),
    ] = None,
) -> CredentialDetail | Response:
    """One credential: metadata, the decoded credential and the JWT, or the credential in one of
    its two secured forms (VC-JWT, or Data Integrity: see `format`)."""
    row = service.get_credential(session, credential_id)
    wanted = format or wanted_form(request.headers.get("accept", "")) or "json"
    if wanted == "jwt":
        return Response(row.jwt, media_type=VC_JWT)
    if wanted == "di":
        offered(settings, "di")
        document = service.data_integrity_form(session, keyring, row)
        return Response(json.dumps(document, ensure_ascii=False), media_type=VC_DATA_INTEGRITY)
    return credential_detail(row, settings)


@router.get(
    "/v1/credentials/{credential_id}/badge.svg",
    operation_id="getBakedBadge",
    responses=problem_responses(
        404, 406, 422, extra={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}}
    ),
)
def get_baked_badge(
    credential_id: str,
    session: SessionDep,
    issuer: IssuerDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
    _: ReadDep,
    format: Annotated[
        Literal["jwt", "di"],
        Query(description="bake the VC-JWT (default) or the Data Integrity form"),
    ] = "jwt",
) -> Response:
    """The level's badge image with this credential baked in (OB 3.0 baking: an
    `openbadges:credential` element), so the image itself can be verified."""
    offered(settings, format)
    row = service.get_credential(session, credential_id)
    svg = service.baked_badge(session, issuer, keyring, row, format)
    headers = {"Content-Disposition": f'inline; filename="{row.level_id.replace("/", "-")}.svg"'}
    return Response(svg, media_type="image/svg+xml", headers=headers)


@router.get(
    "/v1/credentials/{credential_id}/badge.png",
    operation_id="getBakedBadgePng",
    responses=problem_responses(
        404, 406, 422, extra={200: {"content": {"image/png": {"schema": {"type": "string"}}}}}
    ),
)
def get_baked_badge_png(
    credential_id: str,
    session: SessionDep,
    issuer: IssuerDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
    _: ReadDep,
    format: Annotated[
        Literal["jwt", "di"],
        Query(description="bake the VC-JWT (default) or the Data Integrity form"),
    ] = "jwt",
) -> Response:
    """The level's badge as PNG with this credential baked in (OB 3.0 baking: an iTXt chunk
    keyed `openbadgecredential`)."""
    offered(settings, format)
    row = service.get_credential(session, credential_id)
    png = service.baked_png(session, issuer, keyring, row, format)
    return Response(png, media_type="image/png", headers=_download(row, "png"))


Paper = Annotated[Literal["a4", "letter"], Query(description="A4 or US Letter, landscape")]


@router.get(
    "/v1/credentials/{credential_id}/certificate.pdf",
    operation_id="getCertificate",
    responses=problem_responses(
        404, 422, extra={200: {"content": {"application/pdf": {"schema": {"type": "string"}}}}}
    ),
)
def get_certificate(
    credential_id: str, session: SessionDep, issuer: IssuerDep, _: ReadDep, paper: Paper = "a4"
) -> Response:
    """The printable certificate (PDF, one page): earner, level, issuer, dates, criteria, the
    credential id and a QR code to its public page."""
    row = service.get_credential(session, credential_id)
    pdf = service.certificate(session, issuer, row, paper=paper, public=False)
    return Response(pdf, media_type="application/pdf", headers=_download(row, "pdf"))


def _status_route(action: str) -> Any:
    def change(
        credential_id: str,
        session: SessionDep,
        principal: WriteDep,
        body: StatusChange | None = None,
    ) -> CredentialPublic:
        row = service.change_status(
            session,
            credential_id,
            action,
            reason=body.reason if body else None,
            actor=principal.actor,
        )
        return credential_public(row)

    return change


for _action, _doc in (
    ("revoke", "Revoke a credential (permanent); its status-list bit is set at once."),
    ("suspend", "Suspend a credential (reversible with reinstate)."),
    ("reinstate", "Lift a suspension."),
):
    _handler = _status_route(_action)
    _handler.__doc__ = _doc
    router.add_api_route(
        f"/v1/credentials/{{credential_id}}/{_action}",
        _handler,
        methods=["POST"],
        operation_id=f"{_action}Credential",
        response_model=CredentialPublic,
        responses=problem_responses(404, 409, 422),
    )


@router.post(
    "/v1/credentials",
    status_code=status.HTTP_201_CREATED,
    operation_id="awardCredential",
    responses=problem_responses(404, 409, 422),
)
def award_credential(
    body: ManualAward, session: SessionDep, issuer: IssuerDep, principal: WriteDep
) -> CredentialDetail:
    """Award a level by hand (prerequisites required unless `override: true`, audit-logged)."""
    learner = learners.get(session, body.learner_id)
    row = service.award_manually(
        session,
        issuer,
        learner,
        body.level,
        reason=body.reason,
        override=body.override,
        actor=principal.actor,
    )
    return credential_detail(row, issuer.settings)


@router.post(
    "/v1/levels/{track_id}/{level_slug}/evaluate",
    operation_id="evaluateLevel",
    tags=["catalog"],
    responses=problem_responses(404, 422),
)
def evaluate_level(
    track_id: str,
    level_slug: str,
    session: SessionDep,
    issuer: IssuerDep,
    principal: Annotated[Principal, Depends(require("catalog:write"))],
) -> EvaluationReport:
    """Issue this level (and what it cascades to) to every learner who now qualifies."""
    level_id = f"{track_id}/{level_slug}"
    evaluated, issued = service.evaluate_level(session, issuer, level_id, actor=principal.actor)
    return EvaluationReport(level=level_id, learners_evaluated=evaluated, credentials_issued=issued)


def _missing_public(missing: Missing | None) -> MissingPublic | None:
    if missing is None:
        return None
    return MissingPublic(
        courses=[CourseNeeded(course=c.course, min_score=c.min_score) for c in missing.courses],
        electives_needed=missing.electives_needed,
        electives_from=list(missing.electives_from),
        levels=list(missing.levels),
        reasons=list(missing.reasons),
        renewal=missing.renewal,
    )


def _progress_public(line: LevelProgress) -> LevelProgressPublic:
    return LevelProgressPublic(
        level=line.level_id,
        name=line.name,
        status=line.status,
        credential_id=line.credential_id,
        valid_until=line.valid_until,
        renewable_from=line.renewable_from,
        missing=_missing_public(line.missing),
    )


@router.get(
    "/v1/learners/{learner_id}/progress",
    operation_id="getLearnerProgress",
    tags=["learners"],
    responses=problem_responses(400, 404, 422),
)
def get_learner_progress(
    learner_id: Annotated[str, Path(pattern=LEARNER_ID_PATTERN)],
    session: SessionDep,
    issuer: IssuerDep,
    _: Annotated[Principal, Depends(require("learners:read"))],
    at: Annotated[
        Instant | None,
        Query(description="Progress as of this time (default now), from only what existed then"),
    ] = None,
) -> LearnerProgress:
    """Credentials held and, per level, held until when / earnable / what is still missing."""
    if at is not None and at.tzinfo is None:
        raise BadRequest("at needs a time zone, e.g. 2026-03-01T00:00:00Z")
    moment = at or utcnow()
    learner = learners.get(session, learner_id)
    current, lines = service.learner_progress(session, issuer, learner, moment)
    return LearnerProgress(
        learner_id=learner.id,
        at=moment,
        credentials=[
            credential_public(c.row, moment).model_copy(
                update={
                    "status": c.status,
                    "status_changed_at": c.status_changed_at,
                    "status_reason": c.status_reason,
                    "superseded_by": None,
                }
            )
            for c in current
        ],
        levels=[_progress_public(line) for line in lines.values()],
    )


# ----------------------------------------------------------------------------- public documents

public_router = APIRouter(tags=["verification"])  # no API key: what credentials link to
_SLUG = Path(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
_PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}


@public_router.get(
    "/achievements/{track}/{level}",
    operation_id="getAchievement",
    responses=_file("application/json", "object", 404, 422),
)
def get_achievement(
    session: SessionDep,
    issuer: IssuerDep,
    track: Annotated[str, _SLUG],
    level: Annotated[str, _SLUG],
) -> Response:
    """What a credential's `achievement.id` dereferences to (public): the level as an Open
    Badges 3.0 Achievement, in its current version, with its badge image."""
    document = service.public_achievement(session, issuer, f"{track}/{level}")
    return Response(json.dumps(document), media_type="application/json", headers=_PUBLIC_CACHE)


@public_router.get(
    "/achievements/{track}/{level}/image.svg",
    operation_id="getAchievementImage",
    responses=_file("image/svg+xml", "string", 404, 422),
)
def get_achievement_image(
    session: SessionDep,
    issuer: IssuerDep,
    track: Annotated[str, _SLUG],
    level: Annotated[str, _SLUG],
) -> Response:
    """The level's badge image (public SVG, drawn from its name and rank)."""
    svg = service.badge_image(session, issuer, f"{track}/{level}")
    headers = _PUBLIC_CACHE | {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"
    }
    return Response(svg, media_type="image/svg+xml", headers=headers)


_UUID = Path(
    pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    description="the uuid of the credential's id (urn:uuid:...)",
)


_HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}}}
}


@public_router.get(
    "/credentials/{uuid}",
    operation_id="getCredentialPage",
    response_class=Response,
    responses={**_HTML, **problem_responses(404, 422)},
)
def get_credential_page(
    uuid: Annotated[str, _UUID],
    session: SessionDep,
    issuer: IssuerDep,
    verifier: VerifierDep,
) -> Response:
    """A credential's public page (no API key): the badge, level, issuer, dates, criteria, live
    status in words and the checks run just now, with downloads; a revoked credential's page
    says so and nothing else. The learner's name shows only with CREDENCE_PUBLIC_NAMES."""
    row = service.get_credential(session, f"urn:uuid:{uuid}")
    verdict = verifier.verify(row.jwt)
    html = render(service.page_view(session, issuer, row, verdict))
    return Response(html, media_type="text/html; charset=utf-8", headers=page_headers())


@public_router.get(
    "/credentials/{uuid}/credential.jwt",
    operation_id="downloadCredentialJwt",
    responses=_file(VC_JWT, "string", 404, 410, 422),
)
def download_jwt(uuid: Annotated[str, _UUID], session: SessionDep) -> Response:
    """The credential's VC-JWT, from its public page (410 once revoked)."""
    row = service.public_credential(session, uuid)
    return Response(row.jwt, media_type=VC_JWT, headers=_download(row, "jwt"))


@public_router.get(
    "/credentials/{uuid}/credential.json",
    operation_id="downloadCredentialDataIntegrity",
    responses=_file(VC_DATA_INTEGRITY, "object", 404, 406, 410, 422),
)
def download_data_integrity(
    uuid: Annotated[str, _UUID],
    session: SessionDep,
    keyring: KeyRingDep,
    settings: SettingsDep,
) -> Response:
    """The credential's Data Integrity form, from its public page (410 once revoked)."""
    offered(settings, "di")
    row = service.public_credential(session, uuid)
    document = service.data_integrity_form(session, keyring, row)
    body = json.dumps(document, ensure_ascii=False)
    return Response(body, media_type=VC_DATA_INTEGRITY, headers=_download(row, "json"))


@public_router.get(
    "/credentials/{uuid}/badge.svg",
    operation_id="downloadBakedBadge",
    responses=_file("image/svg+xml", "string", 404, 410, 422),
)
def download_badge(
    uuid: Annotated[str, _UUID], session: SessionDep, issuer: IssuerDep, keyring: KeyRingDep
) -> Response:
    """The badge with the credential (VC-JWT) baked in, from its public page."""
    row = service.public_credential(session, uuid)
    svg = service.baked_badge(session, issuer, keyring, row, "jwt")
    return Response(svg, media_type="image/svg+xml", headers=_download(row, "svg"))


@public_router.get(
    "/credentials/{uuid}/badge.png",
    operation_id="downloadBakedBadgePng",
    responses=_file("image/png", "string", 404, 410, 422),
)
def download_badge_png(
    uuid: Annotated[str, _UUID], session: SessionDep, issuer: IssuerDep, keyring: KeyRingDep
) -> Response:
    """The badge as PNG with the credential (VC-JWT) baked in, from its public page."""
    row = service.public_credential(session, uuid)
    png = service.baked_png(session, issuer, keyring, row, "jwt")
    return Response(png, media_type="image/png", headers=_download(row, "png"))


@public_router.get(
    "/credentials/{uuid}/certificate.pdf",
    operation_id="downloadCertificate",
    responses=_file("application/pdf", "string", 404, 410, 422),
)
def download_certificate(
    uuid: Annotated[str, _UUID], session: SessionDep, issuer: IssuerDep, paper: Paper = "a4"
) -> Response:
    """The printable certificate, from the public page (the name only with
    CREDENCE_PUBLIC_NAMES; 410 once revoked)."""
    row = service.public_credential(session, uuid)
    pdf = service.certificate(session, issuer, row, paper=paper, public=True)
    return Response(pdf, media_type="application/pdf", headers=_download(row, "pdf"))


def _download(row: Credential, extension: str) -> dict[str, str]:
    name = f"{row.level_id.replace('/', '-')}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
