"""`/users`, `/users/{email}` and `/posts`: the REST API snapshots."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from core.contracts import CONTRACTS
from serving.catalog import Catalog
from serving.core.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from serving.deps import Context, ContextDep
from serving.ingest.users import find_user
from serving.list_endpoints import ListRoutes
from serving.params import LIST, SEARCH, Param
from serving.query import Filter, parse_filter
from serving.responses import cache_headers, not_modified
from serving.schemas import row_model

router = APIRouter(tags=["users and posts"], responses=ERROR_RESPONSES)
lists = ListRoutes(tags=["users and posts"], responses=ERROR_RESPONSES)
USERS, POSTS = CONTRACTS["users"], CONTRACTS["posts"]
USER_PARAMS = (*LIST, SEARCH)
POST_PARAMS = (
    *LIST,
    SEARCH,
    Param("user_id", "int", "Only posts of this author.", ge=-(2**63), le=2**63 - 1),
)


@lists.route("/users", USERS, USER_PARAMS, summary="List users")
def list_users(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Users, by id; `search` covers name, username, email and company; any column filters as
    `col__op=value` (e.g. `city=Gwenborough`, `id__in=1,2,3`)."""
    return []


@router.get(
    "/users/{email}",
    response_model=row_model("users"),
    summary="One user by email",
    responses={404: {"model": ErrorEnvelope, "description": "No user has this email."}},
)
async def get_user(
    request: Request,
    ctx: ContextDep,
    email: Annotated[str, Path(max_length=320, description="Case-insensitive.")],
) -> Response:
    """The user with this email, from the REST API or pushed to `POST /users` (served as soon as
    the push returns). Read through a cache keyed by the `users` table's version."""
    email = email.strip().lower()
    snap = await ctx.catalog.current()
    version = Catalog.version(snap, USERS.name)
    etag = Catalog.etag(version, request.url.path) if version else None
    headers = cache_headers(ctx, etag)
    if etag is not None and not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    body = await ctx.cache.get(email, version or "-")
    if body is None:
        row = await find_user(ctx, snap, email)
        body = orjson.dumps(row) if row else b""
        await ctx.cache.put(email, version or "-", body)
    if not body:
        raise ApiError(404, "not_found", f"no user with email {email[:100]!r}")
    return Response(body, media_type="application/json", headers=headers)


@lists.route("/posts", POSTS, POST_PARAMS, summary="List posts")
def list_posts(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Posts, by id; `search` covers title and body."""
    user_id = q.get("user_id")
    return [parse_filter(POSTS, "user_id", str(user_id))] if user_id is not None else []
