"""Status lists, public: the signed BitstringStatusListCredential verifiers fetch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from service.deps import SessionDep, SettingsDep
from service.errors import problem_responses
from service.keys.deps import KeyRingDep
from service.status.deps import StatusListsDep

router = APIRouter()
VC_JWT = "application/vc+jwt"


@router.get(
    "/v1/status-lists/{list_id}",
    operation_id="getStatusList",
    tags=["verification"],
    responses=problem_responses(
        404,
        422,
        extra={
            200: {"content": {VC_JWT: {"schema": {"type": "string"}}}},
            304: {"description": "Not modified"},
        },
    ),
)
def get_status_list(
    list_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyRingDep,
    status_lists: StatusListsDep,
) -> Response:
    """The signed BitstringStatusListCredential (public; short cache, ETag)."""
    token, revision = status_lists.get(session, settings, keyring, list_id)
    etag = f'"{list_id}-{revision}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=30"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(token, media_type=VC_JWT, headers=headers)
