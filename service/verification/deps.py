"""The process's verifier as a request dependency (built with the app's engine)."""

from typing import Annotated

from fastapi import Depends, Request

from service.verification.service import Verifier


async def get_verifier(request: Request) -> Verifier:
    """``async``: verification's hot path never pays a thread-pool hop for it."""
    verifier: Verifier = request.app.state.verifier
    return verifier


VerifierDep = Annotated[Verifier, Depends(get_verifier)]
