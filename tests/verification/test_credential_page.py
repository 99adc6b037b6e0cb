"""A credential's public page: the URL every other artefact points to. No API key, no script,
no external asset; live status in words; the checks just run; downloads; a revoked
credential's page says so and nothing else; the learner's name only when published."""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.conftest import Database
from tests.verification.conftest import BASE, DEMO, Demo, claims_of


def _page(client: TestClient, credential_id: str) -> Any:
    response = client.get("/credentials/" + credential_id.removeprefix("urn:uuid:"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.urls += [v for k, v in attrs if k in ("href", "src") and v]


def test_the_page_shows_the_credential_and_its_checks(demo: Demo) -> None:
    credential_id, token = demo.earn("ana")
    response = _page(demo.client, credential_id)
    html = response.text
    assert "Foundations" in html and "Active: genuine and in force." in html
    assert "It has not been revoked" in html and "The issuer&#x27;s signature is intact" in html
    assert '<meta property="og:title"' in html and 'name="twitter:card"' in html
    assert "names are not published" in html  # the default: no learner names
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    links = _Links()
    links.feed(html)
    assert links.scripts == 0
    page_url = f"{BASE}/credentials/{credential_id.removeprefix('urn:uuid:')}"
    detail = demo.client.get(f"/v1/credentials/{credential_id}", headers=demo.admin).json()
    assert detail["page_url"] == page_url  # the API names the page to share
    linkedin = urlsplit(detail["linkedin_url"])
    assert (linkedin.netloc, linkedin.path) == ("www.linkedin.com", "/profile/add")
    query = parse_qs(linkedin.query)
    assert query["startTask"] == ["CERTIFICATION_NAME"]
    assert query["name"] == ["Social Media Foundations"]
    assert query["certUrl"] == [page_url] and query["certId"] == [credential_id]
    assert query["organizationName"] == ["Credence Development Issuer"]
    issued = datetime.fromisoformat(detail["issued_at"])
    assert query["issueYear"] == [str(issued.year)] and query["issueMonth"] == [str(issued.month)]
    assert query["expirationYear"] == [str(datetime.fromisoformat(detail["valid_until"]).year)]
    assert "Add to LinkedIn profile" in html
    external = [u for u in links.urls if not u.startswith(BASE + "/")]
    assert [urlsplit(u).netloc for u in external] == ["www.linkedin.com"]  # a link, not a load
    downloads = [u for u in links.urls if u.startswith(page_url + "/")]
    assert len(downloads) == 6  # VC-JWT, DI JSON, baked SVG and PNG, certificate A4 and Letter
    for url in downloads:  # each works with no key
        assert demo.client.get(url.removeprefix(BASE)).status_code == 200, url
    assert demo.client.get(f"{page_url.removeprefix(BASE)}/credential.jwt").text == token


def test_the_status_is_said_in_words_and_a_revoked_page_says_only_that(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    demo.status(credential_id, "suspend")
    assert "Suspended since" in _page(demo.client, credential_id).text
    demo.status(credential_id, "reinstate")
    demo.status(credential_id, "revoke")
    html = _page(demo.client, credential_id).text
    assert "was revoked on" in html
    assert "Foundations" not in html and "og:" not in html
    gone = demo.client.get(
        "/credentials/" + credential_id.removeprefix("urn:uuid:") + "/credential.jwt"
    )
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")


def test_names_are_escaped_and_shown_only_when_published(
    settings: Settings, database: Database, admin_headers: dict[str, str]
) -> None:
    published = settings.model_copy(update={"public_names": True})
    with TestClient(create_app(published, engine=database.engine)) as client:
        client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**admin_headers, "Content-Type": "application/yaml"},
        )
        name = '<script>alert("x")</script> Ana'
        client.put("/v1/learners/ana", json={"name": name}, headers=admin_headers)
        credential_id, _ = Demo(client, admin_headers).earn("ana")
        html = _page(client, credential_id).text
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Ana" in html
        assert "<script>" not in html


def test_unknown_and_malformed_ids(demo: Demo) -> None:
    missing = demo.client.get("/credentials/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert demo.client.get("/credentials/not-a-uuid").status_code == 422
    _, token = demo.earn("ana")
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", claims_of(token)["id"])


def test_a_learner_chooses_whether_their_name_shows(demo: Demo) -> None:
    """public_profile overrides the deployment's default (CREDENCE_PUBLIC_NAMES, off here)."""
    put = demo.client.put(
        "/v1/learners/ana", json={"name": "Ana Example", "public_profile": True}, headers=demo.admin
    )
    assert put.status_code == 201 and put.json()["public_profile"] is True
    credential_id, _ = demo.earn("ana")
    assert "Ana Example" in _page(demo.client, credential_id).text
    demo.client.put("/v1/learners/ana", json={"public_profile": False}, headers=demo.admin)
    assert "Ana Example" not in _page(demo.client, credential_id).text
    back = demo.client.put("/v1/learners/ana", json={"public_profile": None}, headers=demo.admin)
    assert back.json()["public_profile"] is None  # the deployment's default again
    assert "names are not published" in _page(demo.client, credential_id).text
