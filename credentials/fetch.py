"""HTTP fetches for the offline verifier: bounded in size and time, and redirected only within
the host asked for, never from https down to http.

A key document fetched from the issuer's own origin is only as trustworthy as the last hop of
its redirects: a redirect to another host (or to plain http, which anyone on the path can
rewrite) would let someone else answer for the issuer, so such a redirect stops the fetch.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from http.client import HTTPMessage
from typing import IO
from urllib.parse import urlsplit

from credentials.errors import CredentialsError

__all__ = [
    "FETCH_MAX_BYTES",
    "FETCH_TIMEOUT_SECONDS",
    "FetchError",
    "fetch_text",
    "refused_redirect",
]

FETCH_TIMEOUT_SECONDS = 10.0
FETCH_MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(CredentialsError):
    """A URL could not be fetched (unreachable, refused redirect, too large, not UTF-8)."""


def refused_redirect(old: str, new: str) -> str | None:
    """Why a redirect from ``old`` to ``new`` must not be followed, or None when it may be.

    Followed: the same host name and port, or an upgrade from http to https on the same host
    name. Refused: another host (name or port), https -> http, and any non-HTTP scheme.
    """
    before, after = urlsplit(old), urlsplit(new)
    if after.scheme not in _DEFAULT_PORTS:
        return f"redirect to a non-HTTP URL {new}"
    if before.scheme == "https" and after.scheme != "https":
        return f"redirect from https down to http ({new})"
    try:
        old_port = before.port or _DEFAULT_PORTS.get(before.scheme)
        new_port = after.port or _DEFAULT_PORTS[after.scheme]
    except ValueError:
        return f"redirect to a malformed URL {new}"
    if (before.hostname or "").lower() != (after.hostname or "").lower():
        return f"redirect to another host ({new})"
    if old_port != new_port and not (before.scheme == "http" and after.scheme == "https"):
        return f"redirect to another port ({new})"
    return None


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        reason = refused_redirect(req.full_url, newurl)
        if reason is not None:
            fp.close()
            raise FetchError(f"cannot fetch {req.full_url}: {reason} refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_text(url: str, *, ssl_context: ssl.SSLContext | None = None) -> str:
    """GET ``url`` (http or https) and return its body as text.

    Redirects are followed only as `refused_redirect` allows; the body is capped at
    `FETCH_MAX_BYTES` and the whole fetch at `FETCH_TIMEOUT_SECONDS` per connection.

    Args:
        url: an ``http://`` or ``https://`` URL.
        ssl_context: the TLS context (default: the system's trusted certificates).

    Raises:
        FetchError: not an HTTP URL, unreachable, an HTTP error status, a refused redirect,
            a body over the cap, or a body that is not UTF-8.
    """
    if urlsplit(url).scheme not in _DEFAULT_PORTS:
        raise FetchError(f"refusing to fetch non-HTTP URL {url}")
    opener = urllib.request.build_opener(
        _SameHostRedirects(), urllib.request.HTTPSHandler(context=ssl_context)
    )
    request = urllib.request.Request(url, headers={"Accept": "application/json, */*"})  # noqa: S310
    try:
        with opener.open(request, timeout=FETCH_TIMEOUT_SECONDS) as response:
            body: bytes = response.read(FETCH_MAX_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise FetchError(f"cannot fetch {url}: {exc}") from None
    if len(body) > FETCH_MAX_BYTES:
        raise FetchError(f"{url} is larger than {FETCH_MAX_BYTES} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise FetchError(f"{url} is not UTF-8 text") from None
