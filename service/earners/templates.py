"""The earners' email templates: a subject, a plain-text and an HTML part per kind of message,
``string.Template`` text with ``$name`` placeholders. A deployment replaces any of them with a
file of the same name in ``CREDENCE_SMTP_TEMPLATES``; an unknown placeholder there stops the
process at start, not a message at send time. Values are HTML-escaped in the HTML part."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Final

KINDS: Final = ("awarded", "renewed", "expiring", "revoked")
PARTS: Final = ("subject.txt", "txt", "html")
PLACEHOLDERS: Final = frozenset(
    {
        "earner",
        "level",
        "track",
        "issuer",
        "page_url",
        "certificate_url",
        "badge_url",
        "image_url",
        "linkedin_url",
        "my_url",
        "wallet_url",
        "my_url_expires",
        "valid_until",
        "days_left",
        "reason",
    }
)


class TemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class Templates:
    """All kinds' templates, loaded and checked once."""

    def __init__(self, folder: Path | None = None) -> None:
        self._by_name: dict[str, Template] = {}
        builtin = resources.files("service.earners") / "templates"
        for kind in KINDS:
            for part in PARTS:
                name = f"{kind}.{part}"
                override = folder / name if folder is not None else None
                if override is not None and override.is_file():
                    source, text = str(override), override.read_text(encoding="utf-8")
                else:
                    source, text = f"built-in {name}", (builtin / name).read_text("utf-8")
                template = Template(text)
                if not template.is_valid():
                    raise TemplateError(f"{source}: a '$' that starts no placeholder ($$ is '$')")
                unknown = set(template.get_identifiers()) - PLACEHOLDERS
                if unknown:
                    raise TemplateError(
                        f"{source}: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(PLACEHOLDERS))}"
                    )
                self._by_name[name] = template

    def render(self, kind: str, values: dict[str, str]) -> Rendered:
        subject = self._by_name[f"{kind}.subject.txt"].substitute(values)
        return Rendered(
            subject=" ".join(subject.split())[:250],  # one header line, whatever the file held
            text=self._by_name[f"{kind}.txt"].substitute(values),
            html=self._by_name[f"{kind}.html"].substitute(
                {name: escape(value) for name, value in values.items()}
            ),
        )
