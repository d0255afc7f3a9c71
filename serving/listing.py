"""The one code path behind every list and item endpoint.

validate the request (no I/O) -> table version from the in-memory catalog -> ETag, and a 304
right there when it matches -> one keyset (or capped-offset) query -> JSON or streamed CSV.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from core.contracts import Contract
from serving.catalog import Catalog, Snapshot
from serving.core.errors import ApiError
from serving.deps import Context, ListParams
from serving.query import (
    Condition,
    Filter,
    Order,
    Select,
    check_text,
    cursor_values,
    decode_cursor,
    encode_cursor,
    parse_filter,
)
from serving.responses import (
    cache_headers,
    csv_page,
    csv_stream,
    json_response,
    not_modified,
    wants_csv,
)
from serving.table_plans import table_plan

# Parameters that shape the page but not the set of rows (left out of a cursor's fingerprint).
PAGING = frozenset({"cursor", "limit", "page", "page_size", "format", "count"})


# Query strings up to this long have their `query_link` kept (the last 256 of them), so what is
# kept stays small whatever the clients send.
LINK_MEMO_QUERY_BYTES = 2048


@functools.lru_cache(maxsize=256)
def query_link(
    table: str, path: str, order: Order, items: tuple[tuple[str, str], ...]
) -> tuple[str, str]:
    """What the query string of a listing in `order` makes of its cursors, from its `items`
    (in order, without `cursor`): the fingerprint a cursor is signed with, of the set of rows
    (the items but the paging ones, in any order), and the query string of the next pages'
    links. Every page of a listing has the same, so they are kept, for short query strings."""
    rows_set = sorted(item for item in items if item[0] not in PAGING)
    raw = repr((table, path, rows_set, order.spec))
    return hashlib.blake2b(raw.encode(), digest_size=9).hexdigest(), urlencode(items)


def filters_from_query(
    request: Request, contract: Contract, declared: frozenset[str]
) -> list[Filter]:
    """Every query parameter the route does not declare is a `col__op=value` filter."""
    return [
        parse_filter(contract, name, value)
        for name, value in request.query_params.multi_items()
        if name not in declared
    ]


class Listing:
    """One request against one contract table."""

    def __init__(
        self,
        request: Request,
        ctx: Context,
        contract: Contract,
        *,
        filters: Iterable[Filter] = (),
        conditions: Iterable[Condition] = (),
        search: str | None = None,
        declared: frozenset[str] = frozenset(),
    ) -> None:
        self.request, self.ctx, self.contract = request, ctx, contract
        db = ctx.db
        all_filters = [*filters, *filters_from_query(request, contract, declared)]
        search_query = None
        if search is not None and search.strip():
            if not contract.search:
                raise ApiError(400, "invalid_parameter", f"{contract.name} has no full-text search")
            search_query = db.search_param(check_text(search, "search"))
            if search_query is None:
                search = None
        self.select = Select(contract, all_filters, list(conditions), search_query)
        self.empty_search = search is not None and search.strip() != "" and search_query is None
        self.plan = table_plan(contract, db)
        self.names = self.plan.names

    # -- versions -------------------------------------------------------------------------------
    async def _snapshot(self) -> tuple[Snapshot, str | None, bool]:
        snap = await self.ctx.catalog.current()
        exists = self.contract.name in snap.tables
        return snap, Catalog.version(snap, self.contract.name), exists

    def _etag(self, version: str | None, kind: str) -> str | None:
        if version is None:
            return None
        scope = self.request.scope
        query = b"&".join(sorted(scope["query_string"].split(b"&")))
        return Catalog.etag(version, scope["path"], query, kind)

    # -- rows -----------------------------------------------------------------------------------
    def _link(self, order: Order) -> tuple[str, str]:
        """The fingerprint of this query in `order` and the query string of its next pages."""
        scope = self.request.scope
        items = tuple((k, v) for k, v in self.request.query_params.multi_items() if k != "cursor")
        short = len(scope["query_string"]) <= LINK_MEMO_QUERY_BYTES
        link = query_link if short else query_link.__wrapped__
        return link(self.contract.name, scope["path"], order, items)

    async def _count(self, snap: Snapshot) -> tuple[int, bool]:
        if self.empty_search:
            return 0, False
        if not self.select.filtered:
            exact = await self.ctx.catalog.exact_count(snap, self.contract.name)
            if exact is not None:
                return exact, False
        cap = self.ctx.settings.count_cap
        sql, params = self.select.count_sql(self.ctx.db, cap)
        work = self.select.work()
        n = (await self.ctx.db.fetch(sql, params, kind="count", work=work))[0][0]
        return min(n, cap), n > cap

    async def _rows(
        self, *, after: list[Any] | None = None, limit: int | None = None, offset: int = 0
    ) -> list[tuple[Any, ...]]:
        if self.empty_search:
            return []
        db, plan = self.ctx.db, self.plan
        sql, params = plan.rows_sql(db, self.select, after, limit, offset)
        return await db.fetch(sql, params, work=self.select.work(limit, offset))

    # -- list endpoints -------------------------------------------------------------------------
    async def respond(self, params: ListParams, *, default_mode: str = "cursor") -> Response:
        settings = self.ctx.settings
        request = self.request
        order = self.plan.order(params.sort)
        self.select.order = order
        cursor_mode = params.cursor is not None or params.limit is not None
        page_mode = params.page is not None or params.page_size is not None
        if cursor_mode and page_mode:
            raise ApiError(
                400, "invalid_parameter", "use either page/page_size or cursor/limit, not both"
            )
        mode = "cursor" if cursor_mode else "page" if page_mode else default_mode
        csv_out = wants_csv(request, params.format)
        after = None
        if params.cursor is not None:
            payload = decode_cursor(self.ctx.cursor_key, params.cursor)
            if payload.get("t") != self.contract.name or payload.get("f") != self._link(order)[0]:
                raise ApiError(
                    400,
                    "invalid_cursor",
                    "the cursor belongs to another query: repeat its filters and sort",
                )
            after = cursor_values(order, payload.get("v"))
        limit = params.limit or settings.default_limit
        if limit > settings.max_limit:
            raise ApiError(400, "invalid_parameter", f"limit: at most {settings.max_limit}")
        page, page_size = params.page or 1, params.page_size or 10
        if mode == "page" and page * page_size > settings.max_page_depth:
            raise ApiError(
                400,
                "page_too_deep",
                f"page mode serves the first {settings.max_page_depth} rows; "
                "follow `next` in cursor mode (cursor/limit) to go deeper",
            )

        snap, version, exists = await self._snapshot()
        etag = self._etag(version, "csv" if csv_out else "json")
        headers = cache_headers(self.ctx, etag)
        if etag is not None and not_modified(request, etag):
            return Response(status_code=304, headers=headers)

        if csv_out and not cursor_mode and not page_mode:
            return self._stream_csv(exists, headers)

        if mode == "page":
            offset = (page - 1) * page_size
            if exists:
                rows, (total, capped) = await asyncio.gather(
                    self._rows(limit=page_size + 1, offset=offset), self._count(snap)
                )
            else:
                rows, total, capped = [], 0, False
            has_more = len(rows) > page_size
            rows = rows[:page_size]
            if csv_out:
                return csv_page(self.contract, rows, headers)
            body = {
                "data": self.plan.to_rows(rows),
                "total": total,
                "total_capped": capped,
                "page": page,
                "page_size": page_size,
                "has_more": has_more,
            }
            return json_response(body, headers)

        if exists:
            if params.count:
                rows, (total, capped) = await asyncio.gather(
                    self._rows(after=after, limit=limit + 1), self._count(snap)
                )
            else:
                rows = await self._rows(after=after, limit=limit + 1)
        else:
            rows = []
        more = len(rows) > limit
        rows = rows[:limit]
        token = next_url = None
        if more:
            last = rows[-1]
            index = self.plan.index
            values = [last[index[c.name]] for c, _ in order.terms]
            fingerprint, query = self._link(order)
            token = encode_cursor(
                self.ctx.cursor_key, {"t": self.contract.name, "f": fingerprint, "v": values}
            )
            # The token's characters (base64url and a dot) need no quoting.
            next_url = f"{request.scope['path']}?{query}{'&' if query else ''}cursor={token}"
        if csv_out:
            if next_url:
                headers["Link"] = f'<{next_url}>; rel="next"'
            return csv_page(self.contract, rows, headers)
        body = {
            "data": self.plan.to_rows(rows),
            "next": token,
            "next_url": next_url,
            "limit": limit,
        }
        if params.count:
            body["total"], body["total_capped"] = (total, capped) if exists else (0, False)
        return json_response(body, headers)

    # -- one row ------------------------------------------------------------------------------
    async def one(self, what: str) -> Response:
        self.select.order = self.plan.order(None)
        _, version, exists = await self._snapshot()
        etag = self._etag(version, "json")
        headers = cache_headers(self.ctx, etag)
        if etag is not None and not_modified(self.request, etag):
            return Response(status_code=304, headers=headers)
        rows = await self._rows(limit=1) if exists else []
        if not rows:
            raise ApiError(404, "not_found", f"no {what}")
        return json_response(self.plan.to_rows(rows)[0], headers)

    def _stream_csv(self, exists: bool, headers: dict[str, str]) -> Response:
        db, timeout = self.ctx.db, self.ctx.settings.export_timeout_ms
        sql, params = self.select.rows_sql(db)
        streamed = exists and not self.empty_search
        batches = db.stream(sql, params, timeout_ms=timeout) if streamed else None
        return csv_stream(self.contract, batches, headers)
