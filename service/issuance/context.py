"""What issuance needs from the process: settings, the key ring and the caches (built once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from service.issuance.compiled import CatalogCache
from service.keys.service import KeyRing
from service.settings import Settings
from service.status.service import StatusListCache


@dataclass
class Issuer:
    settings: Settings
    keyring: KeyRing
    catalog: CatalogCache = field(default_factory=CatalogCache)
    status_lists: StatusListCache = field(default_factory=StatusListCache)

    @classmethod
    def build(cls, settings: Settings) -> Issuer:
        return cls(settings=settings, keyring=KeyRing(settings))


async def get_issuer(request: Request) -> Issuer:
    issuer: Issuer = request.app.state.issuer
    return issuer


IssuerDep = Annotated[Issuer, Depends(get_issuer)]
