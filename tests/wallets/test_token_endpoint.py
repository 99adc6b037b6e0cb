"""The OID4VCI token endpoint's edges, in-process: OAuth-shaped errors (never problem+json,
never a 5xx) for a wrong grant, a missing or unknown code, a form that is not one; and the
per-address rate limit (429 with Retry-After)."""

from __future__ import annotations

from service.wallets.limits import RateLimiter

GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def test_bad_token_requests_get_oauth_errors(client) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ({"grant_type": "password", "username": "x"}, "unsupported_grant_type"),
        ({"grant_type": GRANT}, "invalid_request"),
        ({"grant_type": GRANT, "pre-authorized_code": "not-a-code"}, "invalid_grant"),
    ]
    for form, error in cases:
        answer = client.post("/oid4vci/token", data=form)
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"] == "application/json"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.json()["error"] == error
    as_json = client.post("/oid4vci/token", json={"grant_type": GRANT})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = client.post(
        "/oid4vci/token",
        content=f"grant_type={GRANT}&pre-authorized_code=a&pre-authorized_code=b",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.json()["error"] == "invalid_request"


def test_the_credential_endpoint_wants_a_token_first(client) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/oid4vci/credential", content=b"not json")
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_token"
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_token_requests_are_rate_limited_per_address(app, client) -> None:  # type: ignore[no-untyped-def]
    app.state.token_limiter = RateLimiter(limit=3, window=60)
    answers = [
        client.post("/oid4vci/token", data={"grant_type": GRANT, "pre-authorized_code": "x"})
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 429, 429]
    assert answers[-1].json()["error"] == "temporarily_unavailable"
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 60
