"""Status lists, public: the signed BitstringStatusListCredential verifiers fetch."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from service.core.media import VC_DATA_INTEGRITY, VC_JWT, offered, wanted_form
from service.deps import SessionDep, SettingsDep
from service.errors import problem_responses
from service.keys.deps import KeyRingDep
from service.status.deps import StatusListsDep

router = APIRouter()


@router.get(
    "/v1/status-lists/{list_id}",
    operation_id="getStatusList",
    tags=["verification"],
    responses=problem_responses(
        404,
        422,
        extra={
            200: {
                "content": {
                    VC_JWT: {"schema": {"type": "string"}},
                    VC_DATA_INTEGRITY: {"schema": {"type": "object"}},
                }
            },
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
    format: Annotated[
        Literal["jwt", "di"] | None,
        Query(
            description="`di`: the list as JSON-LD with an eddsa-rdfc-2022 Data Integrity proof "
            "(or ask with `Accept: application/vc`); default the VC-JWT"
        ),
    ] = None,
) -> Response:
    """The signed BitstringStatusListCredential (public; short cache, ETag): a VC-JWT, or in
    its Data Integrity form for the credentials' Data Integrity form."""
    wanted = format or wanted_form(request.headers.get("accept", "")) or "jwt"
    if wanted == "di":
        offered(settings, "di")
        document, revision = status_lists.document(session, settings, keyring, list_id)
        body, media_type, etag = (
            json.dumps(document),
            VC_DATA_INTEGRITY,
            f'"{list_id}-{revision}-di"',
        )
    else:
        body, revision = status_lists.get(session, settings, keyring, list_id)
        media_type, etag = VC_JWT, f'"{list_id}-{revision}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=30", "Vary": "Accept"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
