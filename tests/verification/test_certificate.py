"""The printable certificate: one PDF page (A4 or US Letter, landscape) with fonts embedded,
rendered to pixels by PDFium (pypdfium2) whose QR code, read by zxing-cpp, leads back to the
credential's public page; the public copy names the earner only when names are published."""

from __future__ import annotations

import pytest

from tests.verification.conftest import BASE, Demo

pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (dev extra) not installed")
zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev extra) not installed")


def _qr_texts(pdf: bytes) -> tuple[list[str], tuple[float, float]]:
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    page = document[0]
    size = page.get_size()
    image = page.render(scale=2).to_pil()
    return [
        r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ], size


def test_the_certificate_prints_and_its_qr_code_leads_to_the_page(demo: Demo) -> None:
    demo.client.put("/v1/learners/ana", json={"name": "Ana Example"}, headers=demo.admin)
    credential_id, _ = demo.earn("ana")
    page_url = f"{BASE}/credentials/{credential_id.removeprefix('urn:uuid:')}"
    for paper, expected in (("a4", (842, 595)), ("letter", (792, 612))):
        response = demo.client.get(
            f"/v1/credentials/{credential_id}/certificate.pdf",
            params={"paper": paper},
            headers=demo.admin,
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/pdf"
        pdf = response.content
        assert b"/FontFile2" in pdf  # the TrueType fonts are embedded, not referenced
        texts, size = _qr_texts(pdf)
        assert texts == [page_url]
        assert tuple(round(v) for v in size) == expected
        text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
        assert "Ana Example" in text and "Social Media Foundations" in text
        assert credential_id in text


def test_the_public_certificate_keeps_the_name_private_by_default(demo: Demo) -> None:
    demo.client.put("/v1/learners/ana", json={"name": "Ana Example"}, headers=demo.admin)
    credential_id, _ = demo.earn("ana")
    path = "/credentials/" + credential_id.removeprefix("urn:uuid:") + "/certificate.pdf"
    public = demo.client.get(path)
    assert public.status_code == 200
    text = pdfium.PdfDocument(public.content)[0].get_textpage().get_text_range()
    assert "Ana Example" not in text and "a learner" in text
    assert demo.client.get(path, params={"paper": "legal"}).status_code == 422
