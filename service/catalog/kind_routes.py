"""CRUD routes for one catalog kind, made once per kind (courses, programs, roles, tracks).

No ``from __future__ import annotations`` here: FastAPI reads the body and response types
from these closures' annotations, which must be real classes.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response, status
from pydantic import BaseModel

from service.auth.service import Principal
from service.catalog import crud, repository
from service.core.pagination import (
    BY_TEXT,
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from service.deps import SessionDep, require
from service.errors import InvalidInput, problem_responses

ReadDep = Annotated[Principal, Depends(require("catalog:read"))]
WriteDep = Annotated[Principal, Depends(require("catalog:write"))]
IfMatch = Annotated[str | None, Header(description="ETag from a previous GET; 412 if stale")]
IncludeArchived = Annotated[bool, Query(description="Include archived objects")]


def same_id(path_id: str, body_id: str) -> None:
    if path_id != body_id:
        raise InvalidInput(f"The body's id {body_id!r} differs from the URL's {path_id!r}.")


def listing(rows: dict[str, Any], cursor: str | None, limit: int, archived: bool) -> list[Any]:
    after = decode_cursor(cursor, BY_TEXT) or ""
    chosen = [
        row
        for key, row in sorted(rows.items())
        if key > after and (archived or row.archived_at is None)
    ]
    return chosen[:limit]


def next_cursor(rows: list[Any], limit: int) -> str | None:
    return encode_cursor(rows[-1].id) if len(rows) == limit else None


def add_kind_routes(
    router: APIRouter,
    *,
    kind: str,
    plural: str,
    title: str,
    create_model: type[BaseModel],
    update_model: type[BaseModel],
    public_model: type[BaseModel],
    to_public: Callable[[Any, repository.CatalogRows], Any],
    rows_of: Callable[[repository.CatalogRows], dict[str, Any]],
) -> None:
    """Register create, list, get, update, archive and delete for ``kind`` on ``router``."""
    base = f"/v1/{plural}"
    item = f"{base}/{{obj_id}}"
    name = title.replace(" ", "")
    PublicPage = Page[public_model]  # type: ignore[valid-type]

    def public(session: Any, obj_id: str, response: Response) -> Any:
        rows = repository.load_rows(session)
        row = rows_of(rows).get(obj_id)
        if row is None:
            crud.get_row(session, kind, obj_id)  # raises the 404
        response.headers["ETag"] = crud.etag(row.revision)
        return to_public(row, rows)

    def create(
        body: create_model,
        session: SessionDep,
        principal: WriteDep,
        response: Response,  # type: ignore[valid-type]
    ) -> public_model:  # type: ignore[valid-type]
        crud.create(session, kind, body, actor=principal.actor)  # type: ignore[arg-type]
        return public(session, body.id, response)  # type: ignore[attr-defined]

    def list_(
        session: SessionDep,
        _: ReadDep,
        cursor: CursorParam = None,
        limit: LimitParam = 50,
        include_archived: IncludeArchived = False,
    ) -> PublicPage:  # type: ignore[valid-type]
        rows = repository.load_rows(session)
        chosen = listing(rows_of(rows), cursor, limit, include_archived)
        return PublicPage(
            items=[to_public(r, rows) for r in chosen], next_cursor=next_cursor(chosen, limit)
        )

    def get(obj_id: str, session: SessionDep, _: ReadDep, response: Response) -> public_model:  # type: ignore[valid-type]
        return public(session, obj_id, response)

    def update(
        obj_id: str,
        body: update_model,  # type: ignore[valid-type]
        session: SessionDep,
        principal: WriteDep,
        response: Response,
        if_match: IfMatch = None,
    ) -> public_model:  # type: ignore[valid-type]
        if hasattr(body, "id"):
            same_id(obj_id, body.id)
        crud.update(session, kind, obj_id, body, if_match=if_match, actor=principal.actor)  # type: ignore[arg-type]
        return public(session, obj_id, response)

    def archive(
        obj_id: str, session: SessionDep, principal: WriteDep, response: Response
    ) -> public_model:  # type: ignore[valid-type]
        crud.archive(session, kind, obj_id, actor=principal.actor)
        return public(session, obj_id, response)

    def delete(obj_id: str, session: SessionDep, principal: WriteDep) -> Response:
        crud.delete_object(session, kind, obj_id, actor=principal.actor)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    create.__doc__ = f"Create a {title}."
    list_.__doc__ = f"List {title}s by id (archived ones with include_archived=true)."
    get.__doc__ = f"One {title}, with its ETag."
    update.__doc__ = f"Replace a {title}'s definition; send If-Match with the ETag you read."
    archive.__doc__ = f"Archive a {title}: it leaves the active catalog, its history stays."
    delete.__doc__ = (
        f"Delete a {title} for good; refused (409) while anything refers to it or used it."
    )
    r = problem_responses
    router.add_api_route(
        base,
        create,
        methods=["POST"],
        status_code=201,
        operation_id=f"create{name}",
        responses=r(409, 422),
        response_model=public_model,
    )
    router.add_api_route(
        base,
        list_,
        methods=["GET"],
        operation_id=f"list{name}s",
        responses=r(400, 422),
        response_model=PublicPage,
    )
    router.add_api_route(
        item,
        get,
        methods=["GET"],
        operation_id=f"get{name}",
        responses=r(404, 422),
        response_model=public_model,
    )
    router.add_api_route(
        item,
        update,
        methods=["PUT"],
        operation_id=f"update{name}",
        responses=r(404, 409, 412, 422),
        response_model=public_model,
    )
    router.add_api_route(
        f"{item}/archive",
        archive,
        methods=["POST"],
        operation_id=f"archive{name}",
        responses=r(404, 409, 422),
        response_model=public_model,
    )
    router.add_api_route(
        item,
        delete,
        methods=["DELETE"],
        status_code=204,
        operation_id=f"delete{name}",
        responses=r(404, 409, 422),
        response_class=Response,
    )
