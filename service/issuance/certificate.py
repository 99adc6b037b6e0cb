"""The printable certificate of a credential: one PDF page (A4 landscape or US Letter
landscape) with the earner, level, issuer, dates, criteria, the credential id and a QR code to
the public page; reportlab with its bundled Bitstream Vera fonts embedded (no system fonts)."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

PAPERS = ("a4", "letter")


@dataclass(frozen=True)
class CertificateView:
    earner: str
    level: str
    issuer: str
    awarded: datetime
    valid_until: datetime | None
    criteria: list[str]
    credential_id: str
    page_url: str


@functools.cache
def _fonts() -> tuple[str, str]:
    import reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path(reportlab.__file__).parent / "fonts"
    pdfmetrics.registerFont(TTFont("Vera", str(folder / "Vera.ttf")))
    pdfmetrics.registerFont(TTFont("VeraBd", str(folder / "VeraBd.ttf")))
    return "Vera", "VeraBd"


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y").lstrip("0")


def render_pdf(view: CertificateView, paper: str = "a4") -> bytes:
    """The certificate as PDF bytes (``paper``: ``a4`` or ``letter``, landscape)."""
    import segno
    from reportlab.lib.pagesizes import A4, LETTER, landscape
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    regular, bold = _fonts()
    width, height = landscape(A4 if paper == "a4" else LETTER)
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=(width, height), pageCompression=1)
    pdf.setTitle(f"{view.level} — {view.earner}")
    pdf.setAuthor(view.issuer)
    pdf.setLineWidth(3)
    pdf.rect(28, 28, width - 56, height - 56)
    centre = width / 2
    pdf.setFont(regular, 16)
    pdf.drawCentredString(centre, height - 110, "Certificate of achievement")
    pdf.setFont(bold, 30)
    pdf.drawCentredString(centre, height - 160, view.level)
    pdf.setFont(regular, 14)
    pdf.drawCentredString(centre, height - 200, "awarded to")
    pdf.setFont(bold, 24)
    pdf.drawCentredString(centre, height - 235, view.earner)
    pdf.setFont(regular, 13)
    dates = f"on {_day(view.awarded)}" + (
        f", valid until {_day(view.valid_until)}" if view.valid_until else ""
    )
    pdf.drawCentredString(centre, height - 270, f"by {view.issuer} {dates}")
    pdf.setFont(regular, 10)
    y = height - 320
    for line in view.criteria[:6]:
        pdf.drawString(80, y, "• " + line[:110])
        y -= 15
    qr = segno.make(view.page_url, error="m")
    image = io.BytesIO()
    qr.save(image, kind="png", scale=6, border=2)
    image.seek(0)
    pdf.drawImage(ImageReader(image), width - 220, 60, width=150, height=150)
    pdf.setFont(regular, 8)
    pdf.drawString(80, 78, f"Credential {view.credential_id}")
    pdf.drawString(80, 64, f"Verify: {view.page_url}")
    pdf.showPage()
    pdf.save()
    return out.getvalue()
