"""A learner's own page, opened by the signed link in their emails: every credential they hold
with its page, certificate and badge, and what the next levels still need, in words. Like the
public credential page: server-rendered, every value escaped, no script, no external asset;
and never indexed, cached or referred (the link is the learner's key)."""

from __future__ import annotations

from html import escape

from service.earners.service import OwnPage, WalletOffer
from service.issuance.page import day, html_headers

STYLE = (
    "body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
    "color:#1d1d1f}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}ul{padding-left:0;"
    "list-style:none}li.held{display:flex;gap:1rem;align-items:center;margin:.8rem 0}"
    "li.held img{width:64px;height:64px}.good{color:#135d26}.bad{color:#8a1c1c}"
    ".small{color:#666;font-size:.85rem}li.next{margin:.8rem 0}li.next ul{list-style:disc;"
    "padding-left:1.2rem}img.qr{width:260px;height:260px}.ways{display:flex;flex-wrap:wrap;"
    "gap:2rem}.ways section{flex:1 1 18rem}.ways h2{font-size:1.05rem;margin-top:1rem}"
)


def headers(*, qr: bool = False) -> dict[str, str]:
    """The own pages' headers; the wallet page shows its QR code as a data: image."""
    images = "'self' data:" if qr else "'self'"
    return html_headers(STYLE, images) | {"X-Robots-Tag": "noindex, nofollow"}


def _head(title: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
    )


def render(view: OwnPage) -> str:
    held = "".join(
        '<li class="held">'
        f'<img src="{escape(h.image)}" alt="{escape(h.level)} badge">'
        f"<div><strong>{escape(h.level)}</strong><br>"
        f'<span class="{"good" if h.good else "bad"}">{escape(h.status_words)}</span><br>'
        f'<a href="{escape(h.page)}">Its page</a> · '
        f'<a href="{escape(h.page)}/certificate.pdf">Certificate (PDF)</a> · '
        f'<a href="{escape(h.page)}/badge.png">Badge (PNG)</a>'
        + (f' · <a href="{escape(h.wallet)}">Add to a wallet</a>' if h.wallet else "")
        + "</div></li>"
        for h in view.held
    )
    upcoming = "".join(
        f'<li class="next"><strong>{escape(n.level)}</strong><ul>'
        + "".join(f"<li>{escape(line)}</li>" for line in n.words)
        + "</ul></li>"
        for n in view.next
    )
    return (
        _head(f"Your credentials — {view.issuer}")
        + f"<h1>{escape(view.learner)}: your credentials from {escape(view.issuer)}</h1>"
        + "<h2>What you hold</h2>"
        + (f"<ul>{held}</ul>" if held else "<p>No credentials yet.</p>")
        + "<h2>What comes next</h2>"
        + (f"<ul>{upcoming}</ul>" if upcoming else "<p>Nothing more to earn here.</p>")
        + f'<p class="small">This page is yours: its link works until {day(view.expires)}. '
        "Do not forward it; share a credential's own page instead.</p></body></html>"
    )


def render_refusal(title: str, detail: str) -> str:
    """What a browser shows for a link that no longer (or never did) open the page."""
    return (
        _head(title) + f"<h1>{escape(title)}</h1><p>{escape(detail)}.</p>"
        '<p class="small">Ask your program\'s administrators to send your credential email '
        "again: it carries a fresh link.</p></body></html>"
    )


def render_wallet(view: WalletOffer) -> str:
    """The offer of one credential to the learner's wallet, in the two ways wallets take it:
    each a QR code to scan with a wallet on another device and a link for one on this device.
    The first wallet to take it gets it (once)."""
    return (
        _head(f"Add {view.level} to your wallet")
        + f"<h1>Add {escape(view.level)} to your wallet</h1>"
        + '<div class="ways"><section><h2>LearnCard and other OpenID4VCI wallets</h2>'
        + f'<img class="qr" src="{escape(view.qr_svg)}" alt="QR code of the OpenID4VCI offer">'
        + "<p>Scan the code in your wallet (LearnCard: <em>Scan</em>, then accept), or "
        + f'<a class="oid4vci" href="{escape(view.offer_uri)}">open it in the wallet on this '
        "device</a>.</p></section>"
        + "<section><h2>Learner Credential Wallet</h2>"
        + f'<img class="qr lcw" src="{escape(view.lcw_qr_svg)}" alt="QR code for the Learner '
        'Credential Wallet">'
        + "<p>Scan the code with the phone's camera (or in the wallet: <em>Add credential</em>, "
        f'<em>Scan QR code</em>), or <a class="lcw" href="{escape(view.lcw_link)}">open it in '
        "the Learner Credential Wallet on this device</a>.</p></section></div>"
        + "<p>The wallet receives the credential signed for its own key, so it can present it "
        f"anywhere. The offer works once, until {day(view.expires_at)}; come back to this page "
        "for a new one.</p>"
        + f'<p class="small"><a href="{escape(view.back)}">Back to your credentials</a></p>'
        + "</body></html>"
    )
