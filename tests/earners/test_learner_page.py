"""A learner's own page behind the signed link: their credentials with page, certificate and
badge, what the next levels need in words; nothing for an altered, expired or foreign link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from service.earners import links
from service.settings import Settings
from tests.earners.conftest import drain, earn_foundations, learner, parts


def _path(url: str) -> str:
    return url.removeprefix("https://credence.test")


def test_the_link_in_the_email_opens_the_learners_own_page(  # type: ignore[no-untyped-def]
    api, admin_headers, mailbox, database, settings, config, mail
) -> None:
    learner(api, admin_headers, "kim", email="kim@example.com", name="Kim <script>")
    credential = earn_foundations(api, admin_headers, "kim")
    drain(database, settings, config, mail)
    text, _ = parts(mailbox.messages[0])
    match = re.search(r"https://credence\.test/me/[A-Za-z0-9_.-]+$", text, flags=re.M)
    assert match is not None
    page = api.get(_path(match.group(0)))  # no API key
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src" not in page.headers["content-security-policy"]
    assert "noindex" in page.headers["x-robots-tag"]
    html = page.text
    assert "Kim &lt;script&gt;: your credentials" in html and "<script>" not in html
    uuid = credential["id"].removeprefix("urn:uuid:")
    assert f'href="https://credence.test/credentials/{uuid}/certificate.pdf"' in html
    assert "Social Media Foundations" in html and "Active until" in html
    # what comes next, in words: the advanced level's courses (names from the catalog)
    assert "What comes next" in html and "Complete " in html


def test_an_api_client_can_mint_the_link(  # type: ignore[no-untyped-def]
    api, admin_headers, make_key
) -> None:
    learner(api, admin_headers, "lee", name="Lee")
    reader = {"Authorization": f"Bearer {make_key('learners:read')}"}
    minted = api.post("/v1/learners/lee/link", headers=reader)
    assert minted.status_code == 200, minted.text
    body = minted.json()
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    page = api.get(_path(body["url"]))
    assert page.status_code == 200 and "No credentials yet." in page.text
    assert api.post("/v1/learners/nobody/link", headers=reader).status_code == 404
    assert api.post("/v1/learners/lee/link").status_code == 401


def test_altered_expired_and_unknown_links_do_not_open(  # type: ignore[no-untyped-def]
    api, admin_headers, settings: Settings
) -> None:
    learner(api, admin_headers, "kim", name="Kim")
    good = links.sign(settings.kek_bytes, "kim", datetime.now(UTC) + timedelta(days=1))
    body, _, mac = good.rpartition(".")
    other = links.sign(settings.kek_bytes, "lee", datetime.now(UTC) + timedelta(days=1))
    stretched = body.rsplit(".", 1)[0] + ".9999999999." + mac  # a later expiry, same MAC
    forged = links.sign(
        b"another deployment's key 32 byte", "kim", datetime.now(UTC) + timedelta(days=1)
    )
    expired = links.sign(settings.kek_bytes, "kim", datetime.now(UTC) - timedelta(seconds=1))
    assert api.get(f"/me/{good}").status_code == 200
    for token in (stretched, forged, body + "." + other.rpartition(".")[2], "x.y.z", "abc"):
        refused = api.get(f"/me/{token}")
        assert refused.status_code == 404, token
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/link-not-valid")
    gone = api.get(f"/me/{expired}")
    assert gone.status_code == 410 and gone.json()["type"].endswith("/link-expired")
    # a browser gets a page that says what to do
    in_browser = api.get(f"/me/{expired}", headers={"Accept": "text/html,*/*"})
    assert in_browser.status_code == 410
    assert in_browser.headers["content-type"] == "text/html; charset=utf-8"
    assert "This link has expired" in in_browser.text and "fresh link" in in_browser.text
    # a link for a learner that does not exist (any more)
    ghost = links.sign(settings.kek_bytes, "ghost", datetime.now(UTC) + timedelta(days=1))
    assert api.get(f"/me/{ghost}").status_code == 404


def test_the_own_page_offers_each_live_credential_to_a_wallet(  # type: ignore[no-untyped-def]
    api, admin_headers, settings: Settings
) -> None:
    learner(api, admin_headers, "kim", name="Kim")
    learner(api, admin_headers, "lee", name="Lee")
    mine = earn_foundations(api, admin_headers, "kim")
    theirs = earn_foundations(api, admin_headers, "lee")
    token = links.sign(settings.kek_bytes, "kim", datetime.now(UTC) + timedelta(days=1))
    own = api.get(f"/me/{token}").text
    uuid = mine["id"].removeprefix("urn:uuid:")
    wallet_path = f"/me/{token}/wallet/{uuid}"
    assert f'href="https://credence.test{wallet_path}"' in own

    page = api.get(wallet_path)
    assert page.status_code == 200, page.text
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    assert 'src="data:image/svg+xml' in page.text
    assert 'href="openid-credential-offer://?credential_offer=' in page.text
    assert 'href="https://lcw.app/request.html?issuer=' in page.text
    offers = api.get(f"/v1/credentials/{mine['id']}/offers", headers=admin_headers).json()
    assert [o["status"] for o in offers["items"]] == ["open"]

    other = api.get(f"/me/{token}/wallet/{theirs['id'].removeprefix('urn:uuid:')}")
    assert other.status_code == 404 and other.json()["type"].endswith("/link-not-valid")
    api.post(f"/v1/credentials/{mine['id']}/revoke", headers=admin_headers)
    assert "Add to a wallet" not in api.get(f"/me/{token}").text
    revoked = api.get(wallet_path, headers={"Accept": "text/html"})
    assert revoked.status_code == 409 and "cannot be offered" in revoked.text
