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
from dataclasses import dataclass, replace
from typing import Any

from fastapi import Request

from core.contracts import Contract
from serving.core.errors import ApiError
from serving.query import sort_choices, sortable

TRUE = {"true": True, "1": True, "yes": True, "on": True}
FALSE = {"false": False, "0": False, "no": False, "off": False}


# The forms of a time that every time parameter accepts (`since`, `until`, `hour_from`,
# `hour_to`): ISO 8601, UTC when no offset is given; and the hourly partition key, as Dagster and
# the `hour` columns spell it.
TIME_FORMS = (
    "an ISO 8601 time: `2024-03-01`, `2024-03-01T14:05`, `2024-03-01T14:05:09`, "
    "`2024-03-01T14:05:09.5Z` or `2024-03-01T14:05:09+02:00` (UTC when no offset is given; "
    "the hour key `2024-03-01-14:00` also)"
)
TIME_PATTERN = (
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?)?"
    r"|\d{4}-\d{2}-\d{2}-\d{2}:00"
)
# The same forms, read apart. A `+` left unencoded in a URL arrives as a space: before an offset
# it is read as the `+` it was.
_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<offset>Z|[+ -]\d{2}:\d{2})?"
    r"|-(?P<hour>\d{2}:00))?"
)


def parse_time(raw: str) -> dt.datetime | None:
    """`raw` in one of the `TIME_FORMS`, as an aware UTC datetime; None when it is not one."""
    m = _TIME.fullmatch(raw)
    if m is None:
        return None
    offset = (m["offset"] or "").replace("Z", "+00:00").replace(" ", "+")
    value = dt.datetime.fromisoformat(f"{m['date']}T{m['time'] or m['hour'] or '00:00'}{offset}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # int, float, str, bool, date, time, enum
    description: str = ""
    ge: float | None = None
    le: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    # What a valid value is, in words, for the error message (derived from the kind if empty),
    # and the valid values when they can be listed (the enum's if empty).
    expects: str = ""
    valid: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        types = {"int": "integer", "float": "number", "bool": "boolean", "date": "string"}
        schema: dict[str, Any] = {"type": types.get(self.kind, "string")}
        if self.kind == "date":
            schema["format"] = "date"
        if self.enum:
            schema["enum"] = list(self.enum)
        pattern = TIME_PATTERN if self.kind == "time" else self.pattern
        for key, value in (
            ("minimum", self.ge),
            ("maximum", self.le),
            ("maxLength", self.max_length),
            # JSON Schema patterns match anywhere; `parse` matches the whole value.
            ("pattern", None if pattern is None else f"^(?:{pattern})$"),
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

    def expected(self) -> str:
        """A valid value, in words: `one of: json, csv`, `an integer from 1 to 100`, ..."""
        if self.expects:
            return self.expects
        if self.enum:
            return f"one of: {', '.join(self.enum)}"
        bounds = ""
        if self.ge is not None and self.le is not None:
            bounds = f" from {_number(self.ge)} to {_number(self.le)}"
        return {
            "int": f"an integer{bounds}",
            "float": f"a number{bounds}",
            "bool": "true or false (or 1/0, yes/no, on/off)",
            "date": "a date as YYYY-MM-DD, e.g. 2024-03-01",
            "time": TIME_FORMS,
        }.get(
            self.kind,
            f"text of at most {self.max_length} characters" if self.max_length else "text",
        )

    def parse(self, raw: str) -> Any:
        try:
            value = self._convert(raw)
        except (ValueError, TypeError, OverflowError):
            value = None
        if value is not None and (
            (self.ge is not None and value < self.ge) or (self.le is not None and value > self.le)
        ):
            value = None
        if value is None:
            expected = self.expected().replace("`", "")  # Markdown in the docs, not here
            detail: dict[str, Any] = {"in": "query", "name": self.name, "message": expected}
            if self.valid or self.enum:
                detail["valid"] = list(self.valid or self.enum)
            raise ApiError(
                400,
                "invalid_parameter",
                f"{self.name} must be {expected}; got {raw[:80]!r}",
                [detail],
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
        if self.kind == "time":
            return parse_time(raw)
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


def for_contract(params: tuple[Param, ...], contract: Contract) -> tuple[Param, ...]:
    """`params` with `sort` describing, and its errors listing, the columns of `contract`."""
    columns = ", ".join(sortable(contract))
    return tuple(
        replace(
            p,
            description=f"{p.description} Columns: {columns}.",
            expects=sort_choices(contract),
            valid=tuple(sortable(contract)),
        )
        if p.name == "sort"
        else p
        for p in params
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
