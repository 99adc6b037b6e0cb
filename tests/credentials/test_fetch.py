"""The offline verifier's fetches follow redirects only within the host asked for and never
from https down to http (real local HTTP and HTTPS servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from credentials.fetch import FetchError, fetch_text, refused_redirect

from .servers import make_certificate, serve

BODY = b'{"keys": []}'


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("https://a.example/x", "https://a.example/y", None),
        ("https://a.example/x", "https://A.EXAMPLE:443/y", None),
        ("http://a.example/x", "https://a.example/y", None),  # upgrade
        ("https://a.example/x", "http://a.example/y", "down to http"),
        ("https://a.example/x", "https://b.example/y", "another host"),
        ("https://a.example/x", "https://a.example.evil.example/y", "another host"),
        ("http://a.example/x", "http://b.example/y", "another host"),
        ("https://a.example/x", "https://a.example:8443/y", "another port"),
        ("https://a.example/x", "ftp://a.example/y", "non-HTTP"),
        ("https://a.example/x", "file:///etc/passwd", "non-HTTP"),
    ],
)
def test_redirect_rules(old: str, new: str, reason: str | None) -> None:
    refused = refused_redirect(old, new)
    if reason is None:
        assert refused is None
    else:
        assert refused is not None and reason in refused


def test_a_redirect_on_the_same_host_is_followed() -> None:
    with serve() as server:
        server.body("/keys", BODY)
        server.redirect("/old", "/keys", 301)
        server.redirect("/absolute", f"{server.origin}/keys")
        assert fetch_text(f"{server.origin}/old") == BODY.decode()
        assert fetch_text(f"{server.origin}/absolute") == BODY.decode()
        assert server.requests == ["/old", "/keys", "/absolute", "/keys"]


def test_a_redirect_to_another_host_or_port_is_not_followed() -> None:
    with serve() as server, serve() as other:
        other.body("/keys", b'{"keys": ["forged"]}')
        server.body("/keys", BODY)
        # localhost is this machine too, but not the host name that was asked for
        server.redirect("/to-host", f"http://localhost:{server.port}/keys")
        server.redirect("/to-port", f"{other.origin}/keys")
        with pytest.raises(FetchError, match="another host"):
            fetch_text(f"{server.origin}/to-host")
        with pytest.raises(FetchError, match="another port"):
            fetch_text(f"{server.origin}/to-port")
        assert server.requests == ["/to-host", "/to-port"]  # /keys was never asked for
        assert other.requests == []


def test_https_is_never_redirected_down_to_http(tmp_path: Path) -> None:
    certificate = make_certificate(tmp_path)
    with serve(certificate) as secure, serve() as plain:
        plain.body("/keys", b'{"keys": ["swapped in transit"]}')
        secure.body("/keys", BODY)
        secure.redirect("/same", "/keys")
        secure.redirect("/down", f"http://127.0.0.1:{plain.port}/keys")
        context = certificate.client_context()
        assert fetch_text(f"{secure.origin}/same", ssl_context=context) == BODY.decode()
        with pytest.raises(FetchError, match="down to http"):
            fetch_text(f"{secure.origin}/down", ssl_context=context)
        assert plain.requests == []


def test_an_untrusted_certificate_is_not_fetched(tmp_path: Path) -> None:
    with serve(make_certificate(tmp_path)) as secure:
        secure.body("/keys", BODY)
        with pytest.raises(FetchError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch_text(f"{secure.origin}/keys")  # the system's trust store, not the test's
