"""The public page of a credential: the URL every other artefact points to. Server-rendered HTML
with its style inline (allowed by hash), no script, no external assets: whatever a catalog or
learner name contains is escaped and cannot run or load anything."""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from html import escape
from urllib.parse import urlencode

_STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d1d1f}header{display:flex;gap:1.25rem;align-items:center}img{width:128px;"
    "height:128px}h1{font-size:1.5rem;margin:0}.status{font-weight:600;padding:.5rem .8rem;"
    "border-radius:6px;margin:1rem 0}.good{background:#e4f5e8;color:#135d26}.bad{background:"
    "#fbe6e6;color:#8a1c1c}.note{background:#fff4d6;color:#6b4e00}dl{display:grid;"
    "grid-template-columns:9rem 1fr;gap:.35rem .9rem}dt{font-weight:600}dd{margin:0;"
    "overflow-wrap:anywhere}ul.checks{list-style:none;padding:0}ul.checks li::before{content:"
    "'\\2713  ';color:#1a7f37}ul.checks li.failed::before{content:'\\2717  ';color:#b42318}"
    "ul.checks li.skipped::before{content:'\\2013  ';color:#888}.small{color:#666;font-size:.85rem}"
    "ul.criteria{margin:0;padding-left:1.1rem}"
)
CHECK_WORDS = {
    "format": "It is a well-formed credential",
    "issuer": "It was issued by this service's issuer",
    "signature": "The issuer's signature is intact",
    "claims": "Its claims agree with each other",
    "validity": "It is within its validity period",
    "revocation": "It has not been revoked",
    "suspension": "It is not suspended",
    "schema": "It follows the Open Badges 3.0 structure",
}


@dataclass(frozen=True)
class PageView:
    """What the page shows, decided by the service (status words, whether the name shows)."""

    url: str
    level: str
    track: str
    issuer: str
    earner: str | None  # None: the deployment does not publish names
    awarded: datetime
    valid_until: datetime | None
    criteria: str
    status: str  # "good", "bad" or "note"
    status_words: str
    image: str
    downloads: tuple[tuple[str, str], ...]
    checks: tuple[tuple[str, str], ...]  # (check, ok|failed|skipped)
    revoked: bool
    linkedin: str | None = None  # shown while the credential is in force


def linkedin_add_url(
    *,
    name: str,
    organization: str,
    issued: datetime,
    valid_until: datetime | None,
    page_url: str,
    credential_id: str,
) -> str:
    """LinkedIn's "Add to profile" link for a certification: name, organisation, issue (and
    expiry) year and month, the credential's page and id."""
    query = {
        "startTask": "CERTIFICATION_NAME",
        "name": name,
        "organizationName": organization,
        "issueYear": str(issued.year),
        "issueMonth": str(issued.month),
    }
    if valid_until is not None:
        query |= {
            "expirationYear": str(valid_until.year),
            "expirationMonth": str(valid_until.month),
        }
    query |= {"certUrl": page_url, "certId": credential_id}
    return "https://www.linkedin.com/profile/add?" + urlencode(query)


def _criteria(markdown: str) -> str:
    """The criteria (Markdown bullets, as the catalog generates them) as an HTML list, escaped;
    emphasis marks dropped."""
    lines = [line.strip().removeprefix("- ").replace("**", "") for line in markdown.splitlines()]
    items = "".join(f"<li>{escape(line)}</li>" for line in lines if line)
    return f'<ul class="criteria">{items}</ul>'


def day(moment: datetime | None) -> str:
    """A date in words ("5 December 2026")."""
    return moment.strftime("%d %B %Y").lstrip("0") if moment else "an earlier date"


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


@functools.cache
def html_headers(style: str, images: str = "'self'") -> dict[str, str]:
    """The headers of a server-rendered page with ``style`` inline and nothing else: no script,
    no external asset, no referrer, never cached (what it says is live)."""
    policy = "; ".join(
        [
            "default-src 'none'",
            f"style-src {_sha256(style)}",
            f"img-src {images}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def page_headers() -> dict[str, str]:
    return html_headers(_STYLE)


def render(view: PageView) -> str:
    """The page (every value escaped)."""
    title = "Credential revoked" if view.revoked else f"{view.level} — {view.issuer}"
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style>"
    )
    if view.revoked:  # nothing else: not the level, not the earner, not the issuer's words
        return (
            head + '<meta name="robots" content="noindex"></head><body>'
            f'<p class="status bad">{escape(view.status_words)}</p></body></html>'
        )
    meta = "".join(
        f'<meta property="{name}" content="{escape(value)}">'
        for name, value in (
            ("og:type", "website"),
            ("og:title", title),
            ("og:description", f"{view.level}, awarded {day(view.awarded)} by {view.issuer}"),
            ("og:url", view.url),
            ("og:image", view.image),
        )
    ) + (
        '<meta name="twitter:card" content="summary">'
        f'<meta name="twitter:title" content="{escape(title)}">'
        f'<meta name="twitter:image" content="{escape(view.image)}">'
    )
    facts = [
        ("Earned by", view.earner or "a learner (names are not published)"),
        ("Level", f"{view.level} ({view.track})"),
        ("Issued by", view.issuer),
        ("Awarded", day(view.awarded)),
        ("Valid until", day(view.valid_until) if view.valid_until else "does not expire"),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    rows += f"<dt>Criteria</dt><dd>{_criteria(view.criteria)}</dd>"
    checks = "".join(
        f'<li class="{escape(status)}">{escape(CHECK_WORDS.get(name, name))}</li>'
        for name, status in view.checks
    )
    links = " · ".join(
        f'<a href="{escape(href)}">{escape(label)}</a>' for label, href in view.downloads
    )
    return (
        head + meta + "</head><body><header>"
        f'<img src="{escape(view.image)}" alt="{escape(view.level)} badge">'
        f"<div><h1>{escape(view.level)}</h1><div>{escape(view.issuer)}</div></div></header>"
        f'<p class="status {escape(view.status)}">{escape(view.status_words)}</p>'
        f'<dl>{rows}</dl><h2>Verified just now</h2><ul class="checks">{checks}</ul>'
        f'<p class="small">Download: {links}</p>'
        + (
            f'<p><a href="{escape(view.linkedin)}" rel="noopener">Add to LinkedIn profile</a></p>'
            if view.linkedin
            else ""
        )
        + "</body></html>"
    )
