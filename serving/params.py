"""Query parameters of the list endpoints: declared once, documented in OpenAPI, parsed fast.

FastAPI's per-request parameter validation costs more than the keyset query it guards (about
half a millisecond for a dozen parameters), so the list endpoints declare their parameters here:
`openapi()` puts them in the spec (and so in /docs and in the schemathesis run), `parse()` checks
them with the same constraints and answers a 400 in the error envelope.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from serving.core.errors import ApiError

TRUE = {"true": True, "1": True, "yes": True, "on": True}
FALSE = {"false": False, "0": False, "no": False, "off": False}


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # int, float, str, bool, date, enum
    description: str = ""
    ge: float | None = None
    le: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        types = {"int": "integer", "float": "number", "bool": "boolean", "date": "string"}
        schema: dict[str, Any] = {"type": types.get(self.kind, "string")}
        if self.kind == "date":
            schema["format"] = "date"
        if self.enum:
            schema["enum"] = list(self.enum)
        for key, value in (
            ("minimum", self.ge),
            ("maximum", self.le),
            ("maxLength", self.max_length),
            # JSON Schema patterns match anywhere; `parse` matches the whole value.
            ("pattern", None if self.pattern is None else f"^(?:{self.pattern})$"),
        ):
            if value is not None:
                schema[key] = value
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "description": self.description,
            "schema": schema,
        }

    def parse(self, raw: str) -> Any:
        try:
            value = self._convert(raw)
        except (ValueError, TypeError, OverflowError):
            value = None
        if value is None:
            raise ApiError(
                400,
                "invalid_parameter",
                f"invalid {self.name}: {raw[:80]!r} is not a valid {self.kind}",
                [{"in": "query", "name": self.name, "message": f"expected {self.kind}"}],
            )
        if (self.ge is not None and value < self.ge) or (self.le is not None and value > self.le):
            raise ApiError(
                400,
                "invalid_parameter",
                f"invalid {self.name}: must be between {self.ge} and {self.le}",
                [{"in": "query", "name": self.name, "message": "out of range"}],
            )
        return value

    def _convert(self, raw: str) -> Any:
        if self.kind == "int":
            return int(raw) if re.fullmatch(r"[+-]?\d{1,19}", raw.strip()) else None
        if self.kind == "float":
            value = float(raw)
            return value if math.isfinite(value) else None
        if self.kind == "bool":
            key = raw.strip().lower()
            return TRUE.get(key, FALSE.get(key))
        if self.kind == "date":
            return dt.date.fromisoformat(raw) if len(raw) == 10 else None
        if self.max_length is not None and len(raw) > self.max_length:
            raise ValueError
        if self.pattern is not None and not re.fullmatch(self.pattern, raw):
            raise ValueError
        if self.enum and raw not in self.enum:
            raise ValueError
        return raw


SORT_PATTERN = r"[-+]?[A-Za-z_][A-Za-z0-9_]{0,62}"

LIST = (
    Param("page", "int", "Page mode: the page number (1-based); see `page_size`.", ge=1, le=10**9),
    Param("page_size", "int", "Page mode: rows per page (default 10).", ge=1, le=100),
    Param(
        "cursor",
        "str",
        "Cursor mode: the `next` token of the previous answer (same filters and sort).",
        max_length=4096,
    ),
    Param("limit", "int", "Cursor mode: rows per page (default 50).", ge=1, le=1000),
    Param(
        "sort",
        "str",
        "Column to sort on, `-column` for descending; the key breaks ties.",
        max_length=64,
        pattern=SORT_PATTERN,
    ),
    Param("count", "bool", "Cursor mode: add `total` (exact, or capped when filtered)."),
    Param(
        "format", "enum", "`csv` streams CSV (as does `Accept: text/csv`).", enum=("json", "csv")
    ),
)
SEARCH = Param(
    "search",
    "str",
    "Full-text search (FTS5 on SQLite, tsvector + GIN on PostgreSQL): every word must match.",
    max_length=500,
)


def openapi(params: tuple[Param, ...] | list[Param], filters: str = "") -> dict[str, Any]:
    """`openapi_extra` for a route: its parameters, plus a note on the `col__op` filters, and
    the CSV its `format` parameter can ask for."""
    extra: dict[str, Any] = {"parameters": [p.schema() for p in params]}
    if any(p.name == "format" for p in params):
        extra["responses"] = {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}
    return extra


def parse(request: Request, params: tuple[Param, ...] | list[Param]) -> dict[str, Any]:
    """The declared parameters present in the query string, typed (the last value wins)."""
    # One pass over the query: a lookup per declared name in QueryParams raises and catches a
    # KeyError for each absent one.
    raw = dict(request.query_params.multi_items())
    return {p.name: p.parse(raw[p.name]) for p in params if p.name in raw}
