"""The credential media types, and which form a request's ``Accept`` asks for."""

from __future__ import annotations

from service.errors import ServiceError
from service.settings import Settings

VC_JWT = "application/vc+jwt"
VC_DATA_INTEGRITY = "application/vc"  # VC Data Model 2.0: a JSON-LD credential
_DATA_INTEGRITY = frozenset({VC_DATA_INTEGRITY, "application/vc+ld+json", "application/ld+json"})


def accepted_types(accept: str) -> set[str]:
    """The media types an ``Accept`` header names (parameters and weights dropped)."""
    return {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}


def wanted_form(accept: str) -> str | None:
    """``jwt`` or ``di`` when ``Accept`` names the VC-JWT or the Data Integrity form (the JWT
    when it names both), else None."""
    types = accepted_types(accept)
    if VC_JWT in types:
        return "jwt"
    return "di" if types & _DATA_INTEGRITY else None


class FormNotOffered(ServiceError):
    status = 406
    type = "form-not-offered"
    title = "This deployment does not offer that form"


def offered(settings: Settings, form: str) -> None:
    """Refuse (406) a credential form the deployment does not hand out
    (``CREDENCE_CREDENTIAL_FORMATS``)."""
    if form not in settings.credential_formats:
        raise FormNotOffered(
            f"This deployment does not hand out the {_NAMES[form]} form "
            f"(CREDENCE_CREDENTIAL_FORMATS={','.join(settings.credential_formats)})."
        )


_NAMES = {"jwt": "VC-JWT", "di": "Data Integrity"}
