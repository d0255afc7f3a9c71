"""What every list and item answer is made of, apart from its rows: the conditional-request
headers (ETag, Cache-Control), a 304, JSON bodies and CSV (one page, or a whole table streamed)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from core.contracts import Contract
from serving.deps import Context

# A header is looked up with `in` before it is read: `Headers.get` finds a missing one by
# raising and catching a KeyError, which costs more than the lookup, and a request often has
# neither an `Accept` nor an `If-None-Match`.


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    if "accept" not in request.headers:
        return False
    accept = request.headers["accept"]
    return "text/csv" in accept and "application/json" not in accept


def not_modified(request: Request, etag: str) -> bool:
    if "if-none-match" not in request.headers:
        return False
    tags = {t.strip().removeprefix("W/") for t in request.headers["if-none-match"].split(",")}
    return etag in tags or "*" in tags


def cache_headers(ctx: Context, etag: str | None) -> dict[str, str]:
    if etag is None:
        return {"Cache-Control": "no-cache", "Vary": "Accept"}
    return {
        "ETag": etag,
        "Cache-Control": f"public, max-age={ctx.settings.cache_max_age_s}, must-revalidate",
        "Vary": "Accept",
    }


def json_response(body: Any, headers: dict[str, str], status: int = 200) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def _csv_converters(contract: Contract) -> list[Callable[[Any], Any]]:
    def text(v: Any) -> Any:
        return "" if v is None else v

    def boolean(v: Any) -> Any:
        return "" if v is None else ("true" if v else "false")

    return [boolean if c.type == "bool" else text for c in contract.columns]


def csv_lines(contract: Contract, rows: list[tuple[Any, ...]], header: bool) -> bytes:
    """`rows` of `contract` as CSV lines, with the header line first when asked."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(contract.column_names)
    convs = _csv_converters(contract)
    writer.writerows([[c(v) for c, v in zip(convs, r, strict=True)] for r in rows])
    return buf.getvalue().encode()


def csv_page(contract: Contract, rows: list[tuple[Any, ...]], headers: dict[str, str]) -> Response:
    """One page of rows as CSV."""
    return Response(
        csv_lines(contract, rows, True), media_type="text/csv; charset=utf-8", headers=headers
    )


def csv_stream(
    contract: Contract,
    batches: AsyncIterator[list[tuple[Any, ...]]] | None,
    headers: dict[str, str],
) -> Response:
    """The whole table as CSV, streamed batch by batch (only the header when `batches` is None)."""

    async def body() -> AsyncIterator[bytes]:
        yield csv_lines(contract, [], True)
        if batches is None:
            return
        async for rows in batches:
            yield csv_lines(contract, rows, False)

    headers = {**headers, "Content-Disposition": f'inline; filename="{contract.name}.csv"'}
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
