"""The process's permission checker as a request dependency (built with the app's engine)."""

from typing import Annotated

from fastapi import Depends, Request

from service.permissions.service import Permissions


async def get_permissions(request: Request) -> Permissions:
    """``async``: the check's hot path never pays a thread-pool hop for it."""
    permissions: Permissions = request.app.state.permissions
    return permissions


PermissionsDep = Annotated[Permissions, Depends(get_permissions)]
