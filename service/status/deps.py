"""The process's status-list cache as a request dependency (built once, with the app)."""

from typing import Annotated

from fastapi import Depends, Request

from service.status.service import StatusListCache


async def get_status_lists(request: Request) -> StatusListCache:
    cache: StatusListCache = request.app.state.status_lists
    return cache


StatusListsDep = Annotated[StatusListCache, Depends(get_status_lists)]
