"""Catalog HTTP API: the whole document (`/v1/catalog`) and CRUD per object kind."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Query, Request, Response, status

from service.catalog import crud, repository
from service.catalog import service as catalog
from service.catalog.document import (
    CourseDef,
    LevelDef,
    ProgramDef,
    RoleDef,
    parse_yaml,
)
from service.catalog.kind_routes import (
    IfMatch,
    IncludeArchived,
    ReadDep,
    WriteDep,
    add_kind_routes,
    listing,
    next_cursor,
    same_id,
)
from service.catalog.schemas import (
    CatalogApplyResult,
    CoursePublic,
    LevelPublic,
    LevelVersionPublic,
    ProgramPublic,
    RolePublic,
    TrackCreate,
    TrackPublic,
    TrackUpdate,
)
from service.core.pagination import CursorParam, LimitParam, Page
from service.core.text import UnstorableText, text_errors
from service.deps import SessionDep
from service.errors import BadRequest, InvalidText, ServiceError, problem_responses
from service.models import Course, Level, Program, Role, Track

router = APIRouter(tags=["catalog"], responses=problem_responses(401, 403))
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


# ---------------------------------------------------------------- whole document


@router.get("/v1/catalog", operation_id="getCatalog")
def get_catalog(session: SessionDep, _: ReadDep, response: Response) -> dict[str, Any]:
    """The whole active catalog as one document (the format `PUT /v1/catalog` takes)."""
    response.headers["ETag"] = crud.etag(repository.catalog_revision(session))
    return catalog.current_document(session).to_mapping()


async def _read_document(request: Request) -> Any:
    body = await request.body()
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media in YAML_TYPES:
        try:
            return parse_yaml(body)
        except UnstorableText as exc:
            raise InvalidText(text_errors([f"body.{where}" for where in exc.locations])) from exc
        except (yaml.YAMLError, ValueError, RecursionError) as exc:
            raise BadRequest(f"The body is not valid YAML: {exc}") from exc
    if media != "application/json":
        raise UnsupportedMediaType(
            f"Send the catalog as application/json or application/yaml, not {media}."
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from exc


@router.put(
    "/v1/catalog",
    operation_id="applyCatalog",
    responses=problem_responses(400, 409, 412, 413, 415, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A catalog document, JSON or YAML",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CatalogDocument"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
def apply_catalog(
    session: SessionDep,
    principal: WriteDep,  # before the body: a bad key is a 401 whatever the body holds
    raw: Annotated[Any, Depends(_read_document)],
    dry_run: Annotated[bool, Query(description="Return the diff, write nothing")] = False,
    if_match: IfMatch = None,
) -> CatalogApplyResult:
    """Apply a whole catalog atomically: created / changed / archived objects, as a diff."""
    # A plain `def`: the database work (which may wait for SQLite's write lock) runs in the
    # thread pool, never on the event loop the lock holder needs to finish its response.
    desired = catalog.build_document(raw)
    if if_match is not None:  # under the catalog lock: two writers with one ETag, one wins
        crud.check_if_match(if_match, repository.lock_catalog(session).revision)
    result = catalog.apply(session, desired, actor=principal.actor, dry_run=dry_run)
    return CatalogApplyResult(
        dry_run=dry_run,
        applied=result.applied,
        revision=result.revision,
        summary=result.diff.summary(),
        changes=result.diff.to_mapping()["changes"],
    )


class UnsupportedMediaType(ServiceError):
    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"


# ---------------------------------------------------------------- public shapes


def _meta(row: Any) -> dict[str, Any]:
    return {
        "revision": row.revision,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "archived_at": row.archived_at,
    }


def course_public(row: Course, _: repository.CatalogRows | None = None) -> CoursePublic:
    return CoursePublic(
        id=row.id,
        name=row.name,
        description=row.description,
        xapi_activity_id=row.xapi_activity_id,
        **_meta(row),
    )


def program_public(row: Program, _: repository.CatalogRows | None = None) -> ProgramPublic:
    return ProgramPublic(
        id=row.id, name=row.name, description=row.description, requires=row.requires, **_meta(row)
    )


def role_public(row: Role, _: repository.CatalogRows | None = None) -> RolePublic:
    return RolePublic.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "description": row.description,
            "mandatory": row.mandatory,
            **_meta(row),
        }
    )


def track_public(row: Track, rows: repository.CatalogRows) -> TrackPublic:
    levels = sorted(
        (lv for lv in rows.levels.values() if lv.track_id == row.id and lv.archived_at is None),
        key=lambda lv: lv.rank,
    )
    return TrackPublic(
        id=row.id,
        name=row.name,
        description=row.description,
        levels=[lv.id for lv in levels],
        **_meta(row),
    )


def level_public(row: Level, rows: repository.CatalogRows) -> LevelPublic:
    version = rows.versions[row.id]
    rules = version.rules
    return LevelPublic(
        id=row.id,
        track=row.track_id,
        slug=row.local_id,
        name=row.name,
        description=row.description,
        rank=row.rank,
        requires=rules["requires"],
        valid_for=rules.get("valid_for"),
        renewal=rules.get("renewal"),
        recency=rules.get("recency"),
        version=row.version,
        prerequisites=version.prerequisites,
        **_meta(row),
    )


add_kind_routes(
    router,
    kind="course",
    plural="courses",
    title="course",
    create_model=CourseDef,
    update_model=CourseDef,
    public_model=CoursePublic,
    to_public=course_public,
    rows_of=lambda rows: rows.courses,
)
add_kind_routes(
    router,
    kind="track",
    plural="tracks",
    title="track",
    create_model=TrackCreate,
    update_model=TrackUpdate,
    public_model=TrackPublic,
    to_public=track_public,
    rows_of=lambda rows: rows.tracks,
)
add_kind_routes(
    router,
    kind="program",
    plural="programs",
    title="program",
    create_model=ProgramDef,
    update_model=ProgramDef,
    public_model=ProgramPublic,
    to_public=program_public,
    rows_of=lambda rows: rows.programs,
)
add_kind_routes(
    router,
    kind="role",
    plural="roles",
    title="role",
    create_model=RoleDef,
    update_model=RoleDef,
    public_model=RolePublic,
    to_public=role_public,
    rows_of=lambda rows: rows.roles,
)


# ---------------------------------------------------------------- levels

LEVEL = "/v1/tracks/{track_id}/levels/{level_slug}"


def _level_response(session: SessionDep, level_id: str, response: Response) -> LevelPublic:
    rows = repository.load_rows(session)
    row = rows.levels.get(level_id)
    if row is None:
        crud.get_row(session, "level", level_id)  # raises the 404
    assert row is not None
    response.headers["ETag"] = crud.etag(row.revision)
    return level_public(row, rows)


@router.post(
    "/v1/tracks/{track_id}/levels",
    status_code=status.HTTP_201_CREATED,
    operation_id="createLevel",
    responses=problem_responses(404, 409, 422),
)
def create_level(
    track_id: str, body: LevelDef, session: SessionDep, principal: WriteDep, response: Response
) -> LevelPublic:
    """Add a level to a track (the level ranked below is a prerequisite unless told otherwise)."""
    crud.create_level(session, track_id, body, actor=principal.actor)
    return _level_response(session, f"{track_id}/{body.id}", response)


@router.get(
    "/v1/tracks/{track_id}/levels",
    operation_id="listLevels",
    responses=problem_responses(400, 404, 422),
)
def list_levels(
    track_id: str,
    session: SessionDep,
    _: ReadDep,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
    include_archived: IncludeArchived = False,
) -> Page[LevelPublic]:
    """Levels of a track, by id."""
    crud.get_row(session, "track", track_id)
    rows = repository.load_rows(session)
    mine = {k: v for k, v in rows.levels.items() if v.track_id == track_id}
    chosen = listing(mine, cursor, limit, include_archived)
    return Page[LevelPublic](
        items=[level_public(r, rows) for r in chosen], next_cursor=next_cursor(chosen, limit)
    )


@router.get(LEVEL, operation_id="getLevel", responses=problem_responses(404, 422))
def get_level(
    track_id: str, level_slug: str, session: SessionDep, _: ReadDep, response: Response
) -> LevelPublic:
    """One level with its current rules and version (and its ETag)."""
    return _level_response(session, f"{track_id}/{level_slug}", response)


@router.get(
    f"{LEVEL}/versions", operation_id="listLevelVersions", responses=problem_responses(404, 422)
)
def list_level_versions(
    track_id: str, level_slug: str, session: SessionDep, _: ReadDep
) -> list[LevelVersionPublic]:
    """Every version of a level's earning rules, oldest first."""
    level_id = f"{track_id}/{level_slug}"
    crud.get_row(session, "level", level_id)
    return [
        LevelVersionPublic(
            level=v.level_id,
            version=v.version,
            rules=v.rules,
            prerequisites=v.prerequisites,
            created_at=v.created_at,
        )
        for v in repository.level_versions(session, level_id)
    ]


@router.put(LEVEL, operation_id="updateLevel", responses=problem_responses(404, 409, 412, 422))
def update_level(
    track_id: str,
    level_slug: str,
    body: LevelDef,
    session: SessionDep,
    principal: WriteDep,
    response: Response,
    if_match: IfMatch = None,
) -> LevelPublic:
    """Replace a level's definition; a change to its rules makes a new version."""
    same_id(level_slug, body.id)
    level_id = f"{track_id}/{level_slug}"
    crud.update_level(session, level_id, body, if_match=if_match, actor=principal.actor)
    return _level_response(session, level_id, response)


@router.post(
    f"{LEVEL}/archive", operation_id="archiveLevel", responses=problem_responses(404, 409, 422)
)
def archive_level(
    track_id: str, level_slug: str, session: SessionDep, principal: WriteDep, response: Response
) -> LevelPublic:
    """Archive a level: it leaves the active catalog; its credentials and versions stay."""
    level_id = f"{track_id}/{level_slug}"
    crud.archive(session, "level", level_id, actor=principal.actor)
    return _level_response(session, level_id, response)


@router.delete(
    LEVEL,
    status_code=204,
    operation_id="deleteLevel",
    response_class=Response,
    responses=problem_responses(404, 409, 422),
)
def delete_level(
    track_id: str, level_slug: str, session: SessionDep, principal: WriteDep
) -> Response:
    """Delete a level for good; refused (409) while referred to or once credentials exist."""
    crud.delete_object(session, "level", f"{track_id}/{level_slug}", actor=principal.actor)
    return Response(status_code=204)
