"""Earners' email, through a real SMTP server on loopback: what arrives on award, revocation and
before expiry; nothing for a learner without an address or for events older than the mail
relay's reach; a down server delays mail and loses none; a refused address is given up at once;
re-sends; overridden templates."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from service.app import create_app
from service.earners.settings import MailSettings
from service.earners.templates import TemplateError
from service.models import MailMessage
from service.settings import Settings
from tests.earners.conftest import (
    Clock,
    Mailbox,
    drain,
    earn_foundations,
    learner,
    parts,
    smtp_server,
)


def _rows(database) -> list[MailMessage]:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        return list(session.exec(select(MailMessage).order_by(MailMessage.id)))


def test_an_award_is_mailed_to_the_earner_once(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox: Mailbox, database, settings, config, mail
) -> None:
    learner(api, admin_headers, "kim", email="kim@example.com", name="Kim <Lee> & co")
    credential = earn_foundations(api, admin_headers, "kim")
    drain(database, settings, config, mail)
    drain(database, settings, config, mail)  # a second worker pass sends nothing more

    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == "kim@example.com"
    assert message["From"] == "Credence Test <badges@credence.test>"
    assert message["Reply-To"] == "programs@credence.test"
    assert message["Subject"] == "You earned Social Media Foundations"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = parts(message)
    page = "https://credence.test/credentials/" + credential["id"].removeprefix("urn:uuid:")
    assert "Hello Kim <Lee> & co," in text
    assert f"{page}\n" in text and f"{page}/certificate.pdf" in text
    assert "https://www.linkedin.com/profile/add?" in text
    assert re.search(r"https://credence\.test/me/[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]+", text)
    assert "Hello Kim &lt;Lee&gt; &amp; co," in html and "<Lee>" not in html
    assert f'href="{page}"' in html

    sent = api.get(f"/v1/credentials/{credential['id']}/messages", headers=admin_headers).json()
    assert [(m["kind"], m["status"], m["to"], m["attempts"]) for m in sent["items"]] == [
        ("awarded", "sent", "kim@example.com", 1)
    ]


def test_no_address_no_message(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    credential = earn_foundations(api, admin_headers, "nobody")  # no email given
    drain(database, settings, config, mail)
    assert mailbox.messages == [] and _rows(database) == []
    refused = api.post(f"/v1/credentials/{credential['id']}/notify", headers=admin_headers)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/learner-has-no-email")


def test_revocation_is_mailed_with_its_reason(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    learner(api, admin_headers, "leo", email="leo@example.com", name="Leo")
    credential = earn_foundations(api, admin_headers, "leo")
    revoked = api.post(
        f"/v1/credentials/{credential['id']}/revoke",
        json={"reason": "posted a client's data"},
        headers=admin_headers,
    )
    assert revoked.status_code == 200, revoked.text
    drain(database, settings, config, mail)
    assert [m["Subject"] for m in mailbox.messages] == [
        "You earned Social Media Foundations",
        "Your Social Media Foundations credential was revoked",
    ]
    text, _ = parts(mailbox.messages[1])
    assert "Reason given: posted a client's data" in text


def test_expiry_is_mailed_once_per_threshold(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    learner(api, admin_headers, "mo", email="mo@example.com")
    credential = earn_foundations(api, admin_headers, "mo")
    until = credential["valid_until"]
    from datetime import datetime

    expiry = datetime.fromisoformat(until)
    clock = Clock()
    drain(database, settings, config, mail, clock)  # the award
    for moment in (
        expiry - timedelta(days=40),
        expiry - timedelta(days=29, hours=23),
        expiry - timedelta(days=20),
        expiry - timedelta(days=6),
        expiry - timedelta(days=5),
    ):
        clock.now = moment
        drain(database, settings, config, mail, clock)
    subjects = [m["Subject"] for m in mailbox.messages]
    day = f"{expiry:%d %B %Y}".lstrip("0")
    assert subjects == [
        "You earned Social Media Foundations",
        f"Your Social Media Foundations credential expires on {day}",
        f"Your Social Media Foundations credential expires on {day}",
    ]
    assert "in 29 days" in parts(mailbox.messages[1])[0]
    assert "in 6 days" in parts(mailbox.messages[2])[0]
    assert sorted(r.dedupe_key or "" for r in _rows(database))[1:] == [
        f"expiring:{credential['id']}:30",
        f"expiring:{credential['id']}:7",
    ]


def test_a_down_server_delays_mail_and_loses_none(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config, tmp_path: Path
) -> None:
    down = Mailbox(port=__import__("tests.robustness.live", fromlist=["free_port"]).free_port())
    mail = MailSettings(url=f"smtp://127.0.0.1:{down.port}", timeout=2.0)
    learner(api, admin_headers, "ana", email="ana@example.com")
    credential = earn_foundations(api, admin_headers, "ana")
    clock = Clock()
    drain(database, settings, config, mail, clock)
    [row] = _rows(database)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error and "Connection refused" in row.last_error
    assert row.next_attempt_at > clock.now  # backing off, not spinning

    drain(database, settings, config, mail, clock)  # not due yet: no second attempt
    assert _rows(database)[0].attempts == 1

    controller = smtp_server(down)  # the server comes back
    try:
        clock.advance(hours=3)
        drain(database, settings, config, mail, clock)
    finally:
        controller.stop()
    [row] = _rows(database)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert [m["X-Credence-Credential"] for m in down.messages] == [credential["id"]]


def test_past_the_horizon_a_message_is_failed_and_says_why(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config
) -> None:
    from tests.robustness.live import free_port

    mail = MailSettings(url=f"smtp://127.0.0.1:{free_port()}", timeout=2.0, horizon="PT1H")
    learner(api, admin_headers, "eli", email="eli@example.com")
    credential = earn_foundations(api, admin_headers, "eli")
    clock = Clock()
    for _ in range(12):
        drain(database, settings, config, mail, clock)
        clock.advance(minutes=30)
    [row] = _rows(database)
    assert row.status == "failed" and "Connection refused" in (row.last_error or "")
    listed = api.get(f"/v1/credentials/{credential['id']}/messages", headers=admin_headers)
    assert listed.json()["items"][0]["status"] == "failed"


def test_a_refused_address_is_given_up_at_once(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox: Mailbox, database, settings, config, mail
) -> None:
    mailbox.refuse = "550 5.1.1 No such user"
    learner(api, admin_headers, "gone", email="gone@example.com")
    earn_foundations(api, admin_headers, "gone")
    clock = Clock()
    drain(database, settings, config, mail, clock)
    clock.advance(days=1)
    drain(database, settings, config, mail, clock)
    [row] = _rows(database)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "No such user" in (row.last_error or "")


def test_notify_sends_again_with_a_fresh_link(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail, make_key
) -> None:
    learner(api, admin_headers, "ines", email="ines@example.com")
    credential = earn_foundations(api, admin_headers, "ines")
    drain(database, settings, config, mail)
    reader = {"Authorization": f"Bearer {make_key('credentials:read')}"}
    path = f"/v1/credentials/{credential['id']}/notify"
    assert api.post(path, headers=reader).status_code == 403
    queued = api.post(path, headers=admin_headers)
    assert queued.status_code == 202, queued.text
    assert queued.json() | {"id": 0, "created_at": None, "next_attempt_at": None} == {
        "id": 0,
        "kind": "awarded",
        "to": "ines@example.com",
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "created_at": None,
        "next_attempt_at": None,
        "sent_at": None,
    }
    assert len(mailbox.messages) == 1  # queued, not sent from the request
    drain(database, settings, config, mail)
    assert [m["Subject"] for m in mailbox.messages] == ["You earned Social Media Foundations"] * 2
    missing = api.post(
        "/v1/credentials/urn:uuid:00000000-0000-4000-8000-000000000000/notify",
        headers=admin_headers,
    )
    assert missing.status_code == 404


def test_notify_without_smtp_is_a_clear_conflict(  # type: ignore[no-untyped-def]
    settings: Settings, database, admin_headers
) -> None:
    from fastapi.testclient import TestClient

    from tests.webhooks.conftest import DEMO

    app = create_app(settings, engine=database.engine, mail=MailSettings(url=None))
    with TestClient(app) as client:
        client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**admin_headers, "Content-Type": "application/yaml"},
        )
        learner(client, admin_headers, "pat", email="pat@example.com")
        credential = earn_foundations(client, admin_headers, "pat")
        answer = client.post(f"/v1/credentials/{credential['id']}/notify", headers=admin_headers)
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/mail-not-configured")
    assert _rows(database) == []


def test_events_older_than_max_age_are_not_mailed(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    learner(api, admin_headers, "old", email="old@example.com")
    earn_foundations(api, admin_headers, "old")
    clock = Clock()
    clock.advance(days=4)  # the worker first runs four days later (max_age: three)
    drain(database, settings, config, mail, clock)
    assert mailbox.messages == [] and _rows(database) == []


def test_templates_can_be_replaced_and_are_checked_at_start(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail, tmp_path: Path
) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "awarded.subject.txt").write_text("Well done, $earner: $level\n")
    (folder / "awarded.txt").write_text("See $page_url\n")
    ours = mail.model_copy(update={"templates": folder})
    learner(api, admin_headers, "zoe", email="zoe@example.com", name="Zoe")
    earn_foundations(api, admin_headers, "zoe")
    drain(database, settings, config, ours)
    [message] = mailbox.messages
    assert message["Subject"] == "Well done, Zoe: Social Media Foundations"
    text, html = parts(message)
    assert text.startswith("See https://credence.test/credentials/")
    assert "Congratulations" in html  # the built-in HTML part, not replaced

    (folder / "revoked.txt").write_text("Gone: $lvl\n")
    with pytest.raises(TemplateError, match=r"revoked.txt: unknown placeholder\(s\) lvl"):
        create_app(settings, engine=database.engine, mail=ours)


def test_production_refuses_plain_smtp_to_a_remote_host(  # type: ignore[no-untyped-def]
    settings: Settings, database
) -> None:
    production = settings.model_copy(update={"env": "production"})
    sender = {"CREDENCE_SMTP_FROM": "Brand Academy <academy@brand.example>"}
    remote = MailSettings(url="smtp://mail.example.com:25", **sender)
    with pytest.raises(ValueError, match="refuses plain smtp://"):
        create_app(production, engine=database.engine, mail=remote)
    no_sender = MailSettings(url="smtps://mail.example.com")
    with pytest.raises(ValueError, match="needs CREDENCE_SMTP_FROM"):
        create_app(production, engine=database.engine, mail=no_sender)
    for fine in (
        "smtp+starttls://u:p@mail.example.com",
        "smtps://mail.example.com",
        "smtp://127.0.0.1:2525",
    ):
        create_app(production, engine=database.engine, mail=MailSettings(url=fine, **sender))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.com", "must start with smtp+starttls://, smtps:// or smtp://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com:99999", "invalid port"),
    ],
)
def test_a_bad_smtp_url_is_refused_with_its_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        MailSettings(url=url)


def test_a_renewal_is_mailed_as_one(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    from datetime import UTC, datetime

    learner(api, admin_headers, "ren", email="ren@example.com")
    earn_foundations(api, admin_headers, "ren", at=datetime.now(UTC) - timedelta(days=330))
    refresher = api.post(
        "/v1/completions",
        json={
            "learner_id": "ren",
            "course_id": "policy-refresher",
            "completed_at": datetime.now(UTC).isoformat(),
        },
        headers=admin_headers,
    )
    assert refresher.status_code == 201, refresher.text
    [renewed] = refresher.json()["issued"]
    drain(database, settings, config, mail)
    assert [m["Subject"] for m in mailbox.messages] == [
        "You earned Social Media Foundations",
        "Your Social Media Foundations credential was renewed",
    ]
    assert mailbox.messages[1]["X-Credence-Credential"] == renewed["id"]
    text, _ = parts(mailbox.messages[1])
    assert "it replaces the earlier one" in text
