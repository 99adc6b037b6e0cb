"""The /verify page: plain HTML with its script and style inline, locked down by CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any


def test_the_page_is_self_contained_and_posts_to_the_verify_endpoint(client: Any) -> None:
    response = client.get("/verify")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "<textarea" in html and 'fetch("/v1/verify"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing external
    assert "innerHTML" not in html  # credential content is only ever set as text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    (script,) = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy
    for words in ("Issuer", "Holder", "Level", "Dates", "Status", "Signature"):
        assert f'"{words}"' in html
    assert "/verify" not in client.get("/openapi.json").json()["paths"]
