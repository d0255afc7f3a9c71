"""`/tables` and `/tables/{name}`: every contract table, queryable with no new code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from core.contracts import CONTRACTS
from serving.catalog import LANDING, LEDGER, Catalog
from serving.core.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from serving.list_endpoints import ListEndpoint
from serving.params import LIST, SEARCH, QueryModel
from serving.query import OPERATORS, primary_key
from serving.responses import cache_headers, json_response, not_modified
from serving.schemas import AnyRowsPage, TablesAnswer

router = APIRouter(tags=["tables"], responses=ERROR_RESPONSES)
PARAMS = (*LIST, SEARCH)
# Per table: `sort` names its columns in its errors; the parameters are the same on every table.
LISTINGS = {name: ListEndpoint.declare(contract, PARAMS) for name, contract in CONTRACTS.items()}


def _operators(col_type: str) -> list[str]:
    if col_type == "json":
        return ["contains", "isnull"]
    if col_type == "string":
        return list(OPERATORS)
    return [op for op in OPERATORS if op != "contains"]


@router.get("/tables", response_model=TablesAnswer, summary="Materialized tables")
async def list_tables(request: Request) -> Response:
    """Every contract table, as `/tables/{name}` serves it: its exact row count (computed once
    per write; for the landing tables, which the push endpoints append to, once per new row),
    its last write and partitions from `partition_ledger` (the last push for a landing table),
    its key and columns with their filters. A table nothing has written yet has no rows, last
    write or partitions (null)."""
    ctx = request.app.state.ctx
    snap = await ctx.catalog.current()
    version = Catalog.version(snap, LEDGER)
    if version is None and snap.landing:
        version = "-"  # pushed rows but no run yet: the landing ids below tell the versions
    landing = sorted(snap.landing.items())
    etag = Catalog.etag(version, "/tables", sorted(snap.tables), landing) if version else None
    headers = cache_headers(ctx, etag)
    if etag and not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    data = []
    for name, contract in CONTRACTS.items():
        exists, entry = name in snap.tables, snap.ledger.get(name)
        rows = await ctx.catalog.exact_count(snap, name) if exists and entry else None
        last_write = Catalog.last_write(snap, name) if exists else None
        if exists and name == LEDGER:
            rows = sum(e.partitions for e in snap.ledger.values())
        elif exists and name in LANDING:
            appended = await ctx.catalog.appended(name)
            rows, last_write = appended.rows, appended.last_write
        data.append(
            {
                "name": name,
                "description": contract.description,
                "rows": rows,
                "last_write": last_write,
                "partitions": entry.partitions if entry else None,
                "key": list(primary_key(contract)),
                "partition_column": contract.partition_column,
                "search": bool(contract.search),
                "url": f"/tables/{name}",
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "nullable": c.nullable,
                        "description": c.description,
                        "filters": _operators(c.type),
                    }
                    for c in contract.columns
                ],
            }
        )
    return json_response({"data": data}, headers)


@router.get(
    "/tables/{name}",
    response_model=AnyRowsPage,
    summary="Rows of any contract table",
    openapi_extra=QueryModel("TableQuery", PARAMS).openapi(),
    responses={404: {"model": ErrorEnvelope, "description": "No contract of that name."}},
)
async def table_rows(
    request: Request,
    name: Annotated[str, Path(max_length=64, description="A table listed by /tables.")],
) -> Response:
    """Rows of table `name` in key order, by cursor (`limit`, `cursor`) or page. Filter any
    column as `col__op=value` with op one of eq (default), ne, gt, gte, lt, lte, in
    (comma-separated), contains, isnull (true/false); e.g.
    `/tables/sales_orders?quantity__gte=5&product__in=Mug,Stapler&sort=-price`."""
    listing = LISTINGS.get(name)
    if listing is None:
        raise ApiError(404, "not_found", f"no table {name[:64]!r}", {"tables": list(CONTRACTS)})
    return await listing.respond(request)
