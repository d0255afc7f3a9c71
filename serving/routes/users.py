"""`/users`, `/users/{email}` and `/posts`: the REST API snapshots."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from orchestration.contracts import CONTRACTS
from serving.core.errors import ERROR_RESPONSES, ErrorEnvelope
from serving.deps import ListParams
from serving.listing import Listing
from serving.params import LIST, SEARCH, Param, openapi, parse
from serving.query import parse_filter
from serving.schemas import list_model, row_model

router = APIRouter(tags=["users and posts"], responses=ERROR_RESPONSES)
USERS, POSTS = CONTRACTS["users"], CONTRACTS["posts"]
USER_PARAMS = (*LIST, SEARCH)
POST_PARAMS = (
    *LIST,
    SEARCH,
    Param("user_id", "int", "Only posts of this author.", ge=-(2**63), le=2**63 - 1),
)


@router.get(
    "/users",
    response_model=list_model("users"),
    summary="List users",
    openapi_extra=openapi(USER_PARAMS),
)
async def list_users(request: Request) -> Response:
    """Users, by id; `search` covers name, username, email and company; any column filters as
    `col__op=value` (e.g. `city=Gwenborough`, `id__in=1,2,3`)."""
    q = parse(request, USER_PARAMS)
    listing = Listing(
        request,
        request.app.state.ctx,
        USERS,
        search=q.get("search"),
        declared=frozenset(p.name for p in USER_PARAMS),
    )
    return await listing.respond(ListParams.of(q))


@router.get(
    "/users/{email}",
    response_model=row_model("users"),
    summary="One user by email",
    responses={404: {"model": ErrorEnvelope, "description": "No user has this email."}},
)
async def get_user(
    request: Request,
    email: Annotated[str, Path(max_length=320, description="Case-insensitive.")],
) -> Response:
    listing = Listing(
        request,
        request.app.state.ctx,
        USERS,
        filters=[parse_filter(USERS, "email", email.strip().lower())],
    )
    return await listing.one(f"user with email {email[:100]!r}")


@router.get(
    "/posts",
    response_model=list_model("posts"),
    summary="List posts",
    openapi_extra=openapi(POST_PARAMS),
)
async def list_posts(request: Request) -> Response:
    """Posts, by id; `search` covers title and body."""
    q = parse(request, POST_PARAMS)
    user_id = q.get("user_id")
    filters = [parse_filter(POSTS, "user_id", str(user_id))] if user_id is not None else []
    listing = Listing(
        request,
        request.app.state.ctx,
        POSTS,
        filters=filters,
        search=q.get("search"),
        declared=frozenset(p.name for p in POST_PARAMS),
    )
    return await listing.respond(ListParams.of(q))
