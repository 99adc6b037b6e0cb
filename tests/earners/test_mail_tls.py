"""Mail over TLS to a real SMTP server on loopback with its own CA: STARTTLS (required, with a
login) and TLS from the first byte; a certificate that does not chain to the configured CA is
refused and the message waits, as with a server that is down."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import Session, select

from service.earners.settings import MailSettings
from service.models import MailMessage
from tests.earners.conftest import Mailbox, drain, earn_foundations, learner
from tests.robustness.live import free_port


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A CA file and a server context whose certificate (for 127.0.0.1) it signed."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test mail CA"))
        .issuer_name(_name("Test mail CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return folder / "ca.pem", context


def _authenticate(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"credence",
        b"s3cret pass",
    )
    return AuthResult(success=ok)


@pytest.fixture
def starttls_box(pki: tuple[Path, ssl.SSLContext]) -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=box.port,
        tls_context=pki[1],
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield box
    controller.stop()


@pytest.fixture
def tls_box(pki: tuple[Path, ssl.SSLContext]) -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(
        box, hostname="127.0.0.1", port=box.port, ssl_context=pki[1], server_hostname="127.0.0.1"
    )
    controller.start()
    yield box
    controller.stop()


def _statuses(database) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session:
        return [(m.status, m.last_error) for m in session.exec(select(MailMessage))]


def test_starttls_with_a_login(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config, starttls_box: Mailbox, pki
) -> None:
    mail = MailSettings(
        url=f"smtp+starttls://credence:s3cret%20pass@127.0.0.1:{starttls_box.port}",
        ca_file=pki[0],
        timeout=5.0,
    )
    learner(api, admin_headers, "tia", email="tia@example.com")
    earn_foundations(api, admin_headers, "tia")
    drain(database, settings, config, mail)
    assert [m["To"] for m in starttls_box.messages] == ["tia@example.com"]
    assert _statuses(database) == [("sent", None)]


def test_tls_from_the_first_byte(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config, tls_box: Mailbox, pki
) -> None:
    mail = MailSettings(url=f"smtps://127.0.0.1:{tls_box.port}", ca_file=pki[0], timeout=5.0)
    learner(api, admin_headers, "tom", email="tom@example.com")
    earn_foundations(api, admin_headers, "tom")
    drain(database, settings, config, mail)
    assert [m["To"] for m in tls_box.messages] == ["tom@example.com"]


def test_an_untrusted_certificate_is_refused_and_the_message_waits(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config, starttls_box: Mailbox
) -> None:
    mail = MailSettings(  # no CA file: the system's CAs do not know the test CA
        url=f"smtp+starttls://credence:s3cret%20pass@127.0.0.1:{starttls_box.port}", timeout=5.0
    )
    learner(api, admin_headers, "una", email="una@example.com")
    earn_foundations(api, admin_headers, "una")
    drain(database, settings, config, mail)
    assert starttls_box.messages == []
    [(status, error)] = _statuses(database)
    assert status == "pending" and "CERTIFICATE_VERIFY_FAILED" in (error or "")


def test_a_wrong_password_waits_and_says_why(  # type: ignore[no-untyped-def]
    api, admin_headers, database, settings, config, starttls_box: Mailbox, pki
) -> None:
    mail = MailSettings(
        url=f"smtp+starttls://credence:wrong@127.0.0.1:{starttls_box.port}",
        ca_file=pki[0],
        timeout=2.0,
    )
    learner(api, admin_headers, "vic", email="vic@example.com")
    earn_foundations(api, admin_headers, "vic")
    drain(database, settings, config, mail)
    [(status, error)] = _statuses(database)
    assert status == "pending" and error  # refused (or left hanging) at login: retried later
    assert starttls_box.messages == []
