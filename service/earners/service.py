"""Earners' services: re-send a credential's email, list what was mailed, mint a learner's
self-service link, and gather what their own page shows. Services flush, never commit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import segno
from sqlmodel import Session

from service.earners import links, outbox, repository
from service.earners.mailer import self_service_url
from service.earners.settings import MailSettings
from service.errors import Conflict, NotFound, ServiceError
from service.issuance import service as issuance
from service.issuance.compiled import LevelInfo
from service.issuance.context import Issuer
from service.issuance.engine_facts import LevelProgress
from service.issuance.page import day
from service.issuance.service import CredentialAsOf, page_path
from service.learners import service as learners
from service.models import Learner, MailMessage
from service.settings import Settings
from service.wallets import service as wallets


class MailNotConfigured(Conflict):
    type = "mail-not-configured"
    title = "This deployment sends no email"


class NoEmail(Conflict):
    type = "learner-has-no-email"
    title = "The learner has no email address"


class LinkNotValid(NotFound):
    type = "link-not-valid"
    title = "This link is not valid"


class LinkExpired(ServiceError):
    status = 410
    type = "link-expired"
    title = "This link has expired"


def resend(
    session: Session, config: MailSettings, credential_id: str, *, now: datetime
) -> MailMessage:
    """Queue the credential's email again (the one that fits its state now)."""
    if not config.enabled:
        raise MailNotConfigured("Set CREDENCE_SMTP_URL to send email to earners.")
    credential = issuance.get_credential(session, credential_id)
    learner = learners.get(session, credential.learner_id)
    if not learner.email:
        raise NoEmail(
            f"Learner {learner.id!r} has no email address: PUT /v1/learners/{learner.id} "
            "with an email first."
        )
    return outbox.queue_resend(session, config, credential, learner, now=now)


def messages(session: Session, credential_id: str) -> list[MailMessage]:
    """What was mailed (or is waiting) about a credential, newest first."""
    issuance.get_credential(session, credential_id)  # 404 for an unknown credential
    return repository.messages_of(session, credential_id)


def learner_link(
    session: Session, settings: Settings, learner_id: str, *, now: datetime
) -> tuple[str, datetime]:
    learner = learners.get(session, learner_id)
    return self_service_url(settings, learner.id, now)


@dataclass(frozen=True)
class Held:
    level: str
    image: str
    status_words: str
    good: bool
    page: str
    wallet: str | None  # the page that offers it to a wallet, while it is in force


@dataclass(frozen=True)
class Next:
    level: str
    words: tuple[str, ...]  # what is still needed, one line each


@dataclass(frozen=True)
class OwnPage:
    learner: str
    issuer: str
    expires: datetime
    held: tuple[Held, ...]
    next: tuple[Next, ...]


def open_link(settings: Settings, token: str, *, now: datetime) -> tuple[str, datetime]:
    """The learner a link is for and its expiry, or why it does not open."""
    try:
        return links.open_link(settings.kek_bytes, token, now=now)
    except links.LinkExpired as exc:
        raise LinkExpired(f"{exc}; each email about your credentials carries a fresh one") from None
    except links.LinkInvalid as exc:
        raise LinkNotValid(str(exc)) from None


def own_page(session: Session, issuer: Issuer, token: str, *, now: datetime) -> OwnPage:
    """What a learner's own page shows: their credentials now, and what the next levels need."""
    settings = issuer.settings
    learner_id, expires = open_link(settings, token, now=now)
    try:
        learner = learners.get(session, learner_id)
    except NotFound:
        raise LinkNotValid("this link's learner no longer exists") from None
    catalog = issuer.catalog.get(session)
    current, lines = issuance.learner_progress(session, issuer, learner, now)
    mine = f"{settings.base_url}/me/{token}"
    held = tuple(_held(settings, catalog.levels, c, now, mine) for c in current)
    upcoming = tuple(
        Next(line.name, _needs(line, catalog.courses, catalog.levels))
        for line in lines.values()
        if line.status in ("missing", "earnable") or (line.status == "held" and line.missing)
    )
    return OwnPage(_name(learner), settings.issuer_name, expires, held, upcoming)


def _name(learner: Learner) -> str:
    return learner.name or learner.id


def _held(
    settings: Settings,
    levels: Mapping[str, LevelInfo],
    item: CredentialAsOf,
    now: datetime,
    mine: str,
) -> Held:
    row = item.row
    level = levels[row.level_id]
    if item.status == "revoked":
        words, good = f"Revoked on {day(item.status_changed_at)}", False
    elif item.status == "suspended":
        words, good = f"Suspended since {day(item.status_changed_at)}", False
    elif row.valid_until is not None and row.valid_until <= now:
        words, good = f"Expired on {day(row.valid_until)}", False
    elif row.valid_until is not None:
        words, good = f"Active until {day(row.valid_until)}", True
    else:
        words, good = "Active, does not expire", True
    return Held(
        level=level.name,
        image=level.image
        or f"{settings.base_url}/achievements/{level.track}/{level.slug}/image.svg",
        status_words=words,
        good=good,
        page=settings.base_url + page_path(row.id),
        wallet=f"{mine}/wallet/{row.id.removeprefix('urn:uuid:')}" if good else None,
    )


@dataclass(frozen=True)
class WalletOffer:
    level: str
    issuer: str
    offer_uri: str
    qr_svg: str
    lcw_link: str
    lcw_qr_svg: str
    expires_at: datetime
    back: str


def wallet_offer(
    session: Session, issuer: Issuer, token: str, uuid: str, *, now: datetime
) -> WalletOffer:
    """A fresh offer of one of the link's learner's own credentials to their wallet."""
    settings = issuer.settings
    learner_id, _ = open_link(settings, token, now=now)
    try:
        row = issuance.get_credential(session, f"urn:uuid:{uuid}")
    except NotFound:
        raise LinkNotValid("there is no such credential") from None
    if row.learner_id != learner_id:
        raise LinkNotValid("this credential is not yours")
    made = wallets.create_offer(
        session, settings, row.id, actor=f"learner:{learner_id}", tx_code=False, now=now
    )
    level = issuer.catalog.get(session).levels[row.level_id]
    return WalletOffer(
        level=level.name,
        issuer=settings.issuer_name,
        offer_uri=made.offer_uri,
        qr_svg=segno.make(made.offer_uri, error="m").svg_data_uri(scale=5),
        lcw_link=made.lcw_link,
        lcw_qr_svg=segno.make(made.lcw_link, error="m").svg_data_uri(scale=5),
        expires_at=made.offer.expires_at,
        back=f"{settings.base_url}/me/{token}",
    )


def _needs(
    line: LevelProgress, courses: Mapping[str, str], levels: Mapping[str, LevelInfo]
) -> tuple[str, ...]:
    if line.status == "earnable":
        return ("Everything is done: it will be awarded at the next evaluation.",)
    missing = line.missing
    if missing is None:
        return ()
    words = []
    if line.status == "held" and line.renewable_from is not None:
        words.append(f"To renew (from {day(line.renewable_from)}):")
    for need in missing.courses:
        name = courses.get(need.course, need.course)
        score = f" with a score of at least {need.min_score:g}" if need.min_score else ""
        words.append(f"Complete {name}{score}.")
    if missing.electives_needed:
        names = ", ".join(courses.get(c, c) for c in missing.electives_from)
        words.append(f"Complete {missing.electives_needed} more of: {names}.")
    for level_id in missing.levels:
        level = levels.get(level_id)
        words.append(f"Hold {level.name if level else level_id} first.")
    words += list(missing.reasons)
    return tuple(words)
