"""The earner's path end to end on a live server (``credence serve`` with its worker inside, a
real SMTP server on loopback): completions → the award email arrives → its link opens the public
page in headless Chromium (screenshot kept beside the test's files) → the PDF certificate's QR
code leads back to that page → the baked PNG unbakes to a credential that verifies; the email's
self-service link opens the learner's own page, and its wallet link an OID4VCI offer that a
wallet (the OpenWallet Foundation's library) redeems for a credential bound to its DID."""

from __future__ import annotations

import io
import os
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.browser import launch, require_browser
from tests.earners.conftest import Mailbox, parts
from tests.interop.node import run_node
from tests.robustness.live import free_port, prepare, start

playwright_api = require_browser("earner walk test")
pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (dev extra) not installed")
zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev extra) not installed")

pytestmark = pytest.mark.slow


def _link(text: str, pattern: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"no {pattern} in:\n{text}"
    return match.group(0)


def test_the_earners_walk(live_db: str, tmp_path: Path, mailbox: Mailbox) -> None:
    env, key = prepare(live_db, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env |= {
        "CREDENCE_BASE_URL": base,
        "CREDENCE_PUBLIC_NAMES": "true",
        "CREDENCE_WEBHOOK_IN_SERVE": "true",
        "CREDENCE_WEBHOOK_POLL_INTERVAL": "0.2",
        "CREDENCE_SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
        "CREDENCE_SMTP_FROM": "Brand Academy <academy@brand.test>",
    }
    server = start(env, key, tmp_path, port=port)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            created = client.put(
                "/v1/learners/walker",
                json={"email": "walker@example.com", "name": "Wren Walker"},
                headers=headers,
            )
            assert created.status_code in (200, 201), created.text
            at = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
            for course, extra in (("policy-101", {"score": 92}), ("brand-voice-101", {})):
                answer = client.post(
                    "/v1/completions",
                    json={"learner_id": "walker", "course_id": course, "completed_at": at} | extra,
                    headers=headers,
                )
                assert answer.status_code == 201, answer.text

            # 1. the email arrives, from the served process's own worker
            assert mailbox.wait_for(1, timeout=60), server.log.read_text()[-2000:]
            [message] = mailbox.messages
            assert message["To"] == "walker@example.com"
            assert message["Subject"] == "You earned Social Media Foundations"
            text, _ = parts(message)
            page_url = _link(text, re.escape(base) + r"/credentials/[0-9a-f-]{36}(?=\n)")
            my_url = _link(text, re.escape(base) + r"/me/[A-Za-z0-9_.-]+(?=\n)")
            wallet_url = _link(text, re.escape(my_url) + r"/wallet/[0-9a-f-]{36}(?=\n)")

            # 2. its link opens the public page in a browser
            shots = tmp_path / "screenshots"
            shots.mkdir()
            with playwright_api.sync_playwright() as p:
                browser = launch(p)
                try:
                    page = browser.new_page(viewport={"width": 900, "height": 1100})
                    opened = page.goto(page_url)
                    assert opened is not None and opened.status == 200
                    assert page.locator("h1").inner_text() == "Social Media Foundations"
                    assert "Active: genuine and in force." in page.locator(".status").inner_text()
                    assert "Wren Walker" in page.content()
                    page.screenshot(path=str(shots / "credential-page.png"), full_page=True)
                    own = page.goto(my_url)
                    assert own is not None and own.status == 200
                    assert "Wren Walker: your credentials" in page.locator("h1").inner_text()
                    page.screenshot(path=str(shots / "own-page.png"), full_page=True)
                    offered = page.goto(wallet_url)
                    assert offered is not None and offered.status == 200
                    for qr in page.locator("img.qr").all():  # both QR codes rendered
                        assert qr.evaluate("i => i.naturalWidth") > 100
                    offer_uri = page.locator("a.oid4vci").get_attribute("href")
                    lcw_link = page.locator("a.lcw").get_attribute("href")
                    page.screenshot(path=str(shots / "wallet-offer.png"), full_page=True)
                finally:
                    browser.close()
            if kept := os.environ.get("CREDENCE_TEST_SCREENSHOTS"):  # a folder to keep them in
                kept = Path(kept)
                kept.mkdir(parents=True, exist_ok=True)
                for shot in shots.iterdir():
                    shutil.copy(shot, kept / shot.name)

            # 3. the certificate's QR code leads back to the page
            pdf = client.get(_link(text, re.escape(page_url) + r"/certificate\.pdf"))
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            image = pdfium.PdfDocument(pdf.content)[0].render(scale=2).to_pil()
            assert [
                r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
            ] == [page_url]
            assert client.get(page_url).status_code == 200

            # 4. the baked PNG unbakes to a credential that verifies
            png = client.get(_link(text, re.escape(page_url) + r"/badge\.png"))
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            jwt = Image.open(io.BytesIO(png.content)).text["openbadgecredential"]
            verdict = client.post(
                "/v1/verify", json={"credential": jwt, "recipient": "walker@example.com"}
            ).json()
            assert verdict["verified"] is True, verdict
            assert {c["check"]: c["status"] for c in verdict["checks"]}["recipient"] == "ok"
            assert verdict["credential"]["id"] == "urn:uuid:" + page_url.rsplit("/", 1)[1]

            # 5. the offer on the wallet page goes into a wallet (the OWF OID4VCI library): the
            # QR code as the browser drew it reads back as the offer
            assert offer_uri is not None
            shot = Image.open(shots / "wallet-offer.png")
            read = {
                r.text for r in zxingcpp.read_barcodes(shot, formats=zxingcpp.BarcodeFormat.QRCode)
            }
            assert read == {offer_uri, lcw_link}
            assert str(lcw_link).startswith("https://lcw.app/request.html?")
            wallet = run_node("oid4vci-wallet.mjs", {"offer": offer_uri})
            assert "error" not in wallet, wallet
            [received] = wallet["credentials"]
            held = client.post("/v1/verify", json={"credential": received}).json()
            assert held["verified"] is True, held
            assert held["credential"]["credentialSubject"]["id"] == wallet["did"]
    finally:
        server.stop()
    # a clean stop, its worker included (uvicorn re-raises the SIGTERM it handled: -15)
    assert server.process.returncode in (0, -15)
    assert "Application shutdown complete" in server.log.read_text()
    assert (shots / "credential-page.png").stat().st_size > 10_000
