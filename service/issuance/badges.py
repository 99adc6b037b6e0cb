"""The default badge image of a level: an SVG drawn from its name and rank (no external
assets, no fonts to fetch), used unless the catalog names an image."""

from __future__ import annotations

import io
import struct
import textwrap
import zlib
from xml.sax.saxutils import escape

# One colour per rank: the first levels light, the top of a track dark (the "black belt").
_COLOURS = ("#1b7f5b", "#1f5fa8", "#6b3fa0", "#1d1d1f")


def badge_svg(name: str, rank: int, track: str) -> str:
    """A 256 x 256 round badge: the level's name (up to three lines), its track and rank."""
    colour = _COLOURS[min(max(rank, 1), len(_COLOURS)) - 1]
    lines = textwrap.wrap(name, width=14)[:3] or [name[:14]]
    first = 128 - 13 * (len(lines) - 1)
    text = "".join(
        f'<text x="128" y="{first + 26 * i}" font-size="22" font-weight="700">{escape(line)}</text>'
        for i, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256" '
        f'role="img" aria-label="{escape(name, {chr(34): "&quot;"})}">'
        f"<title>{escape(name)}</title>"
        f'<circle cx="128" cy="128" r="124" fill="{colour}"/>'
        '<circle cx="128" cy="128" r="108" fill="none" stroke="#ffffff" stroke-width="4" '
        'stroke-opacity="0.7"/>'
        '<g fill="#ffffff" text-anchor="middle" font-family="Helvetica, Arial, sans-serif">'
        '<text x="128" y="64" font-size="14" letter-spacing="2">'
        f"{escape(track.upper()[:24])}</text>"
        f"{text}"
        f'<text x="128" y="212" font-size="16">{"★" * min(max(rank, 1), 5)}</text>'
        "</g></svg>"
    )


OB3_NAMESPACE = "https://purl.imsglobal.org/ob/v3p0"


def bake_svg(svg: str, *, jwt: str | None = None, document: str | None = None) -> str:
    """The badge with the credential baked in (OB 3.0 §5.3): an ``<openbadges:credential>``
    element before ``</svg>``, holding a VC-JWT in its ``verify`` attribute or a Data
    Integrity credential (JSON) as its text."""
    if (jwt is None) == (document is None):
        raise ValueError("bake either a VC-JWT or a Data Integrity document")
    head = f'<openbadges:credential xmlns:openbadges="{OB3_NAMESPACE}"'
    if jwt is not None:
        element = f'{head} verify="{escape(jwt, {chr(34): "&quot;"})}"/>'
    else:
        assert document is not None
        text = document.replace("]]>", "]]]]><![CDATA[>")  # the one sequence CDATA cannot hold
        element = f"{head}><![CDATA[{text}]]></openbadges:credential>"
    end = svg.rindex("</svg>")
    return svg[:end] + element + svg[end:]


def badge_png(name: str, rank: int, track: str) -> bytes:
    """The same badge as :func:`badge_svg`, drawn as a 256 x 256 PNG (what sites that take
    only raster images, and PNG baking, need); Pillow's bundled font, nothing fetched."""
    from PIL import Image, ImageDraw, ImageFont

    colour = _COLOURS[min(max(rank, 1), len(_COLOURS)) - 1]
    image = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, 252, 252), fill=colour)
    draw.ellipse((20, 20, 236, 236), outline=(255, 255, 255, 180), width=4)
    small, large = ImageFont.load_default(size=14), ImageFont.load_default(size=22)
    draw.text((128, 64), track.upper()[:24], fill="white", font=small, anchor="mm")
    lines = textwrap.wrap(name, width=14)[:3] or [name[:14]]
    first = 128 - 13 * (len(lines) - 1)
    for i, line in enumerate(lines):
        draw.text((128, first + 26 * i), line, fill="white", font=large, anchor="mm")
    draw.text((128, 206), "*" * min(max(rank, 1), 5), fill="white", font=large, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


PNG_KEYWORD = b"openbadgecredential"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def bake_png(png: bytes, credential: str) -> bytes:
    """The PNG with the credential baked in (OB 3.0 §5.3): an uncompressed ``iTXt`` chunk keyed
    ``openbadgecredential`` holding the VC-JWT (or a Data Integrity credential's JSON), placed
    before ``IEND``."""
    if not png.startswith(_PNG_SIGNATURE) or png[-12:-8] != b"\x00\x00\x00\x00":
        raise ValueError("not a PNG ending in IEND")
    data = PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + credential.encode("utf-8")
    chunk = struct.pack(">I", len(data)) + b"iTXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"iTXt" + data) & 0xFFFFFFFF)
    return png[:-12] + chunk + png[-12:]
