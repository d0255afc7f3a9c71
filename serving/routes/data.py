"""`/data`: the unified `records`, in the source documents' page contract or by cursor."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from orchestration.contracts import CONTRACTS
from serving.core.errors import ERROR_RESPONSES
from serving.deps import ListParams
from serving.listing import Listing
from serving.params import LIST, SEARCH, Param, openapi, parse
from serving.query import parse_filter
from serving.schemas import list_model

router = APIRouter(tags=["data"], responses=ERROR_RESPONSES)
RECORDS = CONTRACTS["records"]
PARAMS = (
    *LIST,
    SEARCH,
    Param("source", "str", "Only records of this source: users, posts, ...", max_length=64),
)
NAMES = frozenset(p.name for p in PARAMS)


@router.get(
    "/data",
    response_model=list_model("records"),
    summary="Unified records",
    openapi_extra=openapi(PARAMS),
)
async def data(request: Request) -> Response:
    """Every entity of every source in one schema (`source`, `source_id`, `name`, `value`,
    `description`, `created_at`, `updated_at`).

    By default the source documents' page mode: `page`, `page_size` (default 10, max 100),
    answered with `{data, total, page, page_size, has_more}`; `total` is exact for the whole table
    and capped for filtered queries, and pages stop at `SERVING_MAX_PAGE_DEPTH` rows. Cursor mode
    (`limit`, then `cursor` = the previous `next`) goes to any depth at the same speed.
    Columns filter as `col__op=value` (eq, ne, gt, gte, lt, lte, in, contains, isnull).
    """
    q = parse(request, PARAMS)
    source = q.get("source")
    filters = [parse_filter(RECORDS, "source", source)] if source is not None else []
    listing = Listing(
        request,
        request.app.state.ctx,
        RECORDS,
        filters=filters,
        search=q.get("search"),
        declared=NAMES,
    )
    return await listing.respond(ListParams.of(q), default_mode="page")
