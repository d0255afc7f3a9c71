"""`/data`: the unified `records`, in the source documents' page contract or by cursor."""

from __future__ import annotations

from typing import Any

from core.contracts import CONTRACTS
from core.datasets import RECORD_SOURCES
from serving.core.errors import ERROR_RESPONSES
from serving.deps import Context
from serving.list_endpoints import ListRoutes
from serving.params import LIST, SEARCH, Param
from serving.query import Filter, parse_filter

lists = ListRoutes(tags=["data"], responses=ERROR_RESPONSES)
RECORDS = CONTRACTS["records"]
# The sources the `records` asset unifies (`orchestration.defs.records.source_queries`), and
# the datasets declared with a `records` mapping.
SOURCES = ("users", "posts", "countries", "sales", *RECORD_SOURCES)
PARAMS = (
    *LIST,
    SEARCH,
    Param("source", "enum", f"Only records of this source: {', '.join(SOURCES)}.", enum=SOURCES),
)


@lists.route("/data", RECORDS, PARAMS, summary="Unified records", default_mode="page")
def data(q: dict[str, Any], ctx: Context) -> list[Filter]:
    """Every entity of every source in one schema (`source`, `source_id`, `name`, `value`,
    `description`, `created_at`, `updated_at`).

    By default the source documents' page mode: `page`, `page_size` (default 10, max 100),
    answered with `{data, total, page, page_size, has_more}`; `total` is exact for the whole table
    and capped for filtered queries, and pages stop at `SERVING_MAX_PAGE_DEPTH` rows. Cursor mode
    (`limit`, then `cursor` = the previous `next`) goes to any depth at the same speed.
    Columns filter as `col__op=value` (eq, ne, gt, gte, lt, lte, in, contains, isnull).
    """
    source = q.get("source")
    return [parse_filter(RECORDS, "source", source)] if source is not None else []
