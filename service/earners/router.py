"""Earners' API and page: re-send a credential's email and see what was mailed, mint a
learner's self-service link, and the page that link opens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status

from service.auth.service import Principal
from service.core.ids import LEARNER_ID_PATTERN
from service.db import utcnow
from service.deps import SessionDep, SettingsDep, require
from service.earners import page, service
from service.earners.schemas import LearnerLink, MailMessageList, MailMessagePublic
from service.earners.settings import MailSettings
from service.errors import problem_responses
from service.issuance.context import IssuerDep
from service.models import MailMessage
from service.wallets.service import CredentialNotOfferable

router = APIRouter(tags=["earners"], responses=problem_responses(401, 403))


async def get_mail_settings(request: Request) -> MailSettings:
    """The mail settings the app was built with."""
    config: MailSettings = request.app.state.mail_settings
    return config


MailSettingsDep = Annotated[MailSettings, Depends(get_mail_settings)]


def _public(row: MailMessage) -> MailMessagePublic:
    assert row.id is not None
    return MailMessagePublic(
        id=row.id,
        kind=row.kind,
        to=row.to_address,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        sent_at=row.sent_at,
    )


@router.post(
    "/v1/credentials/{credential_id}/notify",
    operation_id="notifyEarner",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(404, 409, 422),
)
def notify_earner(
    credential_id: str,
    session: SessionDep,
    config: MailSettingsDep,
    _: Annotated[Principal, Depends(require("credentials:write"))],
) -> MailMessagePublic:
    """Send the earner the email about this credential again (award, renewal or revocation,
    whichever fits it now), with a fresh self-service link; queued, sent by the worker."""
    return _public(service.resend(session, config, credential_id, now=utcnow()))


@router.get(
    "/v1/credentials/{credential_id}/messages",
    operation_id="listEarnerMessages",
    responses=problem_responses(404, 422),
)
def list_messages(
    credential_id: str,
    session: SessionDep,
    _: Annotated[Principal, Depends(require("credentials:read"))],
) -> MailMessageList:
    """The emails about this credential, newest first: queued, sent, or given up on, and why."""
    return MailMessageList(items=[_public(r) for r in service.messages(session, credential_id)])


@router.post(
    "/v1/learners/{learner_id}/link",
    operation_id="createLearnerLink",
    tags=["learners"],
    responses=problem_responses(404, 422),
)
def create_learner_link(
    learner_id: Annotated[str, Path(pattern=LEARNER_ID_PATTERN)],
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(require("learners:read"))],
) -> LearnerLink:
    """A signed link to the learner's own page (their credentials and progress; no password),
    valid for CREDENCE_LEARNER_LINK_DAYS: for an LMS to show, or to send some other way."""
    url, expires = service.learner_link(session, settings, learner_id, now=utcnow())
    return LearnerLink(url=url, expires_at=expires)


def _with_html(responses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """The page's responses: HTML for browsers, beside problem+json for its refusals."""
    html = {"text/html": {"schema": {"type": "string"}}}
    out: dict[int | str, dict[str, Any]] = {200: {"content": html}}
    for code, answer in responses.items():
        extra = html if code in (404, 409, 410) else {}
        out[code] = answer | {"content": answer.get("content", {}) | extra}
    return out


public_router = APIRouter(tags=["earners"])
_HTML_TYPE = "text/html; charset=utf-8"


@public_router.get(
    "/me/{token}",
    operation_id="getLearnerPage",
    response_class=Response,
    responses=_with_html(problem_responses(404, 410, 422)),
)
def get_learner_page(
    token: Annotated[str, Path(max_length=400, pattern=r"^[A-Za-z0-9_.-]+$")],
    request: Request,
    session: SessionDep,
    issuer: IssuerDep,
) -> Response:
    """A learner's own page, opened by the signed link in their emails (no API key): their
    credentials with page, certificate and badge, and what the next levels need. A browser gets
    an HTML page for an expired (410) or altered (404) link; other clients, problem+json."""
    try:
        view = service.own_page(session, issuer, token, now=utcnow())
    except (service.LinkExpired, service.LinkNotValid) as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        html = page.render_refusal(exc.title, exc.detail)
        return Response(html, exc.status, media_type=_HTML_TYPE, headers=page.headers())
    return Response(page.render(view), media_type=_HTML_TYPE, headers=page.headers())


@public_router.get(
    "/me/{token}/wallet/{uuid}",
    operation_id="getLearnerWalletOffer",
    response_class=Response,
    responses=_with_html(problem_responses(404, 409, 410, 422)),
)
def get_learner_wallet_offer(
    token: Annotated[str, Path(max_length=400, pattern=r"^[A-Za-z0-9_.-]+$")],
    uuid: Annotated[
        str, Path(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    ],
    request: Request,
    session: SessionDep,
    issuer: IssuerDep,
) -> Response:
    """From the learner's own page: a fresh one-time OID4VCI offer of one of their credentials
    to their wallet, as a QR code and a link (no API key; the signed link is the key)."""
    try:
        view = service.wallet_offer(session, issuer, token, uuid, now=utcnow())
    except (service.LinkExpired, service.LinkNotValid, CredentialNotOfferable) as exc:
        if "text/html" not in request.headers.get("accept", ""):
            raise
        html = page.render_refusal(exc.title, exc.detail)
        return Response(html, exc.status, media_type=_HTML_TYPE, headers=page.headers())
    html = page.render_wallet(view)
    return Response(html, media_type=_HTML_TYPE, headers=page.headers(qr=True))
