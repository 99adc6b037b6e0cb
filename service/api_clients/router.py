"""HTTP API for API clients (scope ``admin``)."""

from fastapi import APIRouter, status

from service.api_clients import service
from service.api_clients.schemas import ApiClientCreate, ApiClientCreated, ApiClientPublic
from service.core.pagination import (
    BY_INT32,
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from service.deps import AdminDep, SessionDep
from service.errors import problem_responses
from service.models import ApiClient

router = APIRouter(
    prefix="/v1/api-clients", tags=["api clients"], responses=problem_responses(401, 403)
)


def _public(client: ApiClient) -> ApiClientPublic:
    return ApiClientPublic(
        name=client.name,
        prefix=client.prefix,
        scopes=client.scopes.split(),
        created_at=client.created_at,
        revoked_at=client.revoked_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createApiClient",
    responses=problem_responses(422),
)
def create_api_client(
    body: ApiClientCreate, session: SessionDep, principal: AdminDep
) -> ApiClientCreated:
    """Create an API client; the key is in this response only."""
    client, key = service.create_client(
        session, name=body.name, scopes=body.scopes, actor=principal.actor
    )
    return ApiClientCreated(**_public(client).model_dump(), key=key)


@router.get("", operation_id="listApiClients", responses=problem_responses(400, 422))
def list_api_clients(
    session: SessionDep, _: AdminDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> Page[ApiClientPublic]:
    """List API clients, oldest first (secrets are never shown)."""
    after = decode_cursor(cursor, BY_INT32) or 0
    clients = service.list_clients(session, after_id=after, limit=limit)
    next_cursor = encode_cursor(clients[-1].id) if len(clients) == limit else None
    return Page[ApiClientPublic](items=[_public(c) for c in clients], next_cursor=next_cursor)


@router.delete(
    "/{prefix}", operation_id="revokeApiClient", responses=problem_responses(404, 409, 422)
)
def revoke_api_client(prefix: str, session: SessionDep, principal: AdminDep) -> ApiClientPublic:
    """Revoke an API client by its public prefix; its key stops working at once."""
    return _public(service.revoke_client(session, prefix, actor=principal.actor))
