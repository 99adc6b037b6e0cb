"""The process's key ring as a request dependency (built once, in the app's lifespan)."""

from typing import Annotated

from fastapi import Depends, Request

from service.keys.service import KeyRing


async def get_keyring(request: Request) -> KeyRing:
    keyring: KeyRing = request.app.state.keyring
    return keyring


KeyRingDep = Annotated[KeyRing, Depends(get_keyring)]
