"""Signed, expiring links to a learner's own page: no password, no API key. The token names the
learner and its expiry and carries an HMAC-SHA256 under a key derived from the key-encryption
key, so it cannot be forged or stretched; rotating that key ends every link."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

_CONTEXT = b"credence/learner-link/v1"


class LinkInvalid(ValueError):
    pass


class LinkExpired(LinkInvalid):
    pass


def _key(kek: bytes) -> bytes:
    return hmac.new(kek, _CONTEXT, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(kek: bytes, learner_id: str, expires_at: datetime) -> str:
    """``<learner id, base64url>.<expiry, unix seconds>.<mac>``."""
    body = f"{_b64(learner_id.encode())}.{int(expires_at.timestamp())}"
    mac = hmac.new(_key(kek), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def open_link(kek: bytes, token: str, *, now: datetime) -> tuple[str, datetime]:
    """The learner id and expiry of a genuine, unexpired token."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise LinkInvalid("this link is not one Credence made")
    body = f"{parts[0]}.{parts[1]}"
    expected = hmac.new(_key(kek), body.encode(), hashlib.sha256).digest()
    try:
        genuine = hmac.compare_digest(_unb64(parts[2]), expected)
        learner_id = _unb64(parts[0]).decode()
    except (ValueError, UnicodeDecodeError):
        genuine = False
    if not genuine:
        raise LinkInvalid("this link is not one Credence made, or it was altered")
    expires_at = datetime.fromtimestamp(int(parts[1]), UTC)
    if expires_at <= now:
        raise LinkExpired(f"this link expired on {expires_at:%Y-%m-%d}")
    return learner_id, expires_at
