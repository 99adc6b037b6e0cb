"""Composing earners' messages and handing them to the SMTP server.

A batch goes out over one SMTP session. Each message ends ``sent`` (the server accepted it),
``retry`` (a 4xx answer, or no session at all: the server is down, TLS failed, the login was
refused) or ``failed`` (a 5xx answer about that message: the address does not exist). Blocking
``smtplib`` runs on a worker thread, never on a server's event loop."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal

from service.earners import links
from service.earners.repository import Leased
from service.earners.settings import MailSettings, SmtpServer
from service.earners.templates import Templates
from service.issuance.page import day, linkedin_add_url
from service.issuance.service import page_path
from service.settings import Settings

Verdict = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class Attempt:
    verdict: Verdict
    error: str | None = None


def self_service_url(settings: Settings, learner_id: str, now: datetime) -> tuple[str, datetime]:
    """A fresh signed link to the learner's own page, and when it stops working."""
    expires = now + timedelta(days=settings.learner_link_days)
    return f"{settings.base_url}/me/{links.sign(settings.kek_bytes, learner_id, expires)}", expires


def values(settings: Settings, row: Leased, now: datetime) -> dict[str, str]:
    """The placeholders' values for one message."""
    page = settings.base_url + page_path(row.credential_id)
    my_url, my_url_expires = self_service_url(settings, row.learner_id, now)
    image = row.level_image or (
        f"{settings.base_url}/achievements/{row.track_id}/{row.level_slug}/image.svg"
    )
    days_left = (row.valid_until - now).days if row.valid_until is not None else None
    return {
        "earner": row.learner_name or "there",
        "level": row.level_name,
        "track": row.track_name,
        "issuer": settings.issuer_name,
        "page_url": page,
        "certificate_url": f"{page}/certificate.pdf",
        "badge_url": f"{page}/badge.png",
        "image_url": image,
        "linkedin_url": linkedin_add_url(
            name=row.level_name,
            organization=settings.issuer_name,
            issued=row.issued_at,
            valid_until=row.valid_until,
            page_url=page,
            credential_id=row.credential_id,
        ),
        "my_url": my_url,
        "wallet_url": f"{my_url}/wallet/{row.credential_id.removeprefix('urn:uuid:')}",
        "my_url_expires": day(my_url_expires),
        "valid_until": day(row.valid_until) if row.valid_until else "no end date",
        "days_left": str(max(days_left, 0)) if days_left is not None else "no",
        "reason": str(row.details.get("reason") or row.status_reason or "none given"),
    }


def compose(
    settings: Settings, config: MailSettings, templates: Templates, row: Leased, now: datetime
) -> EmailMessage:
    rendered = templates.render(row.kind, values(settings, row, now))
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = config.sender
    message["To"] = row.to_address
    if config.reply_to:
        message["Reply-To"] = config.reply_to
    message["Date"] = format_datetime(now)
    domain = parseaddr(config.sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=f"credence.{row.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Credence-Credential"] = row.credential_id
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _connect(server: SmtpServer, config: MailSettings) -> smtplib.SMTP:
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if server.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            server.host, server.port, timeout=config.timeout, context=context
        )
    else:
        client = smtplib.SMTP(server.host, server.port, timeout=config.timeout)
    try:
        client.ehlo()
        if server.security == "starttls":
            if not client.has_extn("starttls"):
                raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
            client.starttls(context=context)
            client.ehlo()
        if server.username is not None:
            client.login(server.username, server.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _error(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:500]


def send_batch(config: MailSettings, messages: Sequence[EmailMessage]) -> list[Attempt]:
    """Send over one session (blocking: call it on a thread). One attempt per message."""
    try:
        client = _connect(config.server, config)
    except (OSError, smtplib.SMTPException) as exc:
        return [Attempt("retry", _error(exc))] * len(messages)
    attempts: list[Attempt] = []
    try:
        for message in messages:
            try:
                client.send_message(message)
                attempts.append(Attempt("sent"))
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                permanent = all(code >= 500 for code in codes)
                attempts.append(Attempt("failed" if permanent else "retry", _error(exc)))
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                attempts.append(Attempt("failed" if exc.smtp_code >= 500 else "retry", _error(exc)))
            except (OSError, smtplib.SMTPException) as exc:  # the session broke: retry the rest
                attempts += [Attempt("retry", _error(exc))] * (len(messages) - len(attempts))
                break
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return attempts
