"""Query parameters of the list endpoints: declared once, as one pydantic model per endpoint.

`Param` declares a parameter (kind, bounds, description); `QueryModel` turns an endpoint's
declarations into a pydantic model, which parses each request's query string and gives the
OpenAPI parameters, so what the docs promise is what the parser accepts. A value the model
rejects is a 400 in the error envelope that says, in words, what a valid value is.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from starlette.datastructures import QueryParams
from starlette.requests import Request

from core.contracts import Contract
from core.contracts.schema import COERCE
from serving.core.errors import ApiError
from serving.query import BOOL_WORDS, sort_choices, sortable

# Flags take `on`/`off` besides the words a bool column's filter takes.
FLAG_WORDS = {**BOOL_WORDS, "on": True, "off": False}


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
_INT = re.compile(r"[+-]?\d{1,19}")


def parse_time(raw: str) -> dt.datetime | None:
    """`raw` in one of the `TIME_FORMS`, as an aware UTC datetime; None when it is not one."""
    m = _TIME.fullmatch(raw)
    if m is None:
        return None
    offset = (m["offset"] or "").replace("Z", "+00:00").replace(" ", "+")
    return COERCE["timestamp"](f"{m['date']}T{m['time'] or m['hour'] or '00:00'}{offset}")


# -- each kind's reading of the raw text (the model's bounds and patterns apply after it) ------
def _int(raw: str) -> int:
    if not _INT.fullmatch(raw.strip()):
        raise ValueError("not an integer")
    return COERCE["int"](raw)


def _flag(raw: str) -> bool:
    value = FLAG_WORDS.get(raw.strip().lower())
    if value is None:
        raise ValueError("not a flag")
    return value


def _date(raw: str) -> dt.date:
    if len(raw) != 10:
        raise ValueError("not YYYY-MM-DD")
    return COERCE["date"](raw)


def _time(raw: str) -> dt.datetime:
    value = parse_time(raw)
    if value is None:
        raise ValueError("not a time")
    return value


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

    def annotation(self) -> Any:
        """The field's type: the kind's Python type, its bounds, and how the raw text is read.
        JSON Schema patterns match anywhere, so the pattern is anchored to the whole value."""
        if self.kind == "int":
            return Annotated[int, Field(ge=self.ge, le=self.le), BeforeValidator(_int)]
        if self.kind == "float":
            finite = Field(ge=self.ge, le=self.le, allow_inf_nan=False)
            return Annotated[float, finite, BeforeValidator(COERCE["float"])]
        if self.kind == "bool":
            return Annotated[bool, BeforeValidator(_flag)]
        if self.kind == "date":
            return Annotated[dt.date, BeforeValidator(_date)]
        if self.kind == "time":
            schema = {"type": "string", "pattern": f"^(?:{TIME_PATTERN})$"}
            return Annotated[dt.datetime, BeforeValidator(_time), WithJsonSchema(schema)]
        if self.enum:
            return Literal[self.enum]  # type: ignore[valid-type]
        pattern = None if self.pattern is None else f"^(?:{self.pattern})$"
        return Annotated[str, Field(max_length=self.max_length, pattern=pattern)]

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

    def invalid(self, raw: str) -> ApiError:
        """The 400 for `raw`: what a valid value is, and the valid values when they are few."""
        expected = self.expected().replace("`", "")  # Markdown in the docs, not here
        detail: dict[str, Any] = {"in": "query", "name": self.name, "message": expected}
        if self.valid or self.enum:
            detail["valid"] = list(self.valid or self.enum)
        return ApiError(
            400, "invalid_parameter", f"{self.name} must be {expected}; got {raw[:80]!r}", [detail]
        )


# Query strings up to this long have their parse kept, so the memo stays small whatever the
# clients send.
MEMO_QUERY_BYTES = 2048


class QueryModel:
    """The declared query parameters of one endpoint, as one pydantic model (`model`).

    Every field is optional; parameters the model does not declare are left to the endpoint
    (the `col__op=value` filters of the list endpoints)."""

    def __init__(self, title: str, params: tuple[Param, ...]) -> None:
        self.params = {p.name: p for p in params}
        self.names = frozenset(self.params)
        # The answer depends on the query string alone: the last ones parsed are kept (a
        # ValidationError is never kept), for query strings up to MEMO_QUERY_BYTES.
        self._memo = functools.lru_cache(maxsize=256)(self._parse)
        self.model: type[BaseModel] = create_model(  # type: ignore[call-overload]
            title,
            __config__=ConfigDict(extra="ignore", title=title),
            **{p.name: (p.annotation(), Field(None, description=p.description)) for p in params},
        )

    def parse(self, request: Request) -> dict[str, Any]:
        """The declared parameters present in the query string, typed (the last value wins)."""
        query: bytes = request.scope["query_string"]
        if len(query) > MEMO_QUERY_BYTES:
            return self._parse(query)
        # A copy: the caller may add to it, the memo's answer stays as parsed.
        return dict(self._memo(query))

    def _parse(self, query: bytes) -> dict[str, Any]:
        raw = dict(QueryParams(query).multi_items())
        try:
            values = self.model.model_validate(raw)
        except ValidationError as exc:
            name = str(exc.errors(include_url=False)[0]["loc"][0])
            raise self.params[name].invalid(raw[name]) from None
        return {name: getattr(values, name) for name in values.model_fields_set}

    def openapi(self) -> dict[str, Any]:
        """`openapi_extra` of the endpoint: its query parameters from the model's JSON Schema,
        and the CSV a `format` parameter can ask for."""
        properties = self.model.model_json_schema()["properties"]
        parameters = []
        for name, prop in properties.items():
            schema = {k: v for k, v in prop.items() if k not in ("title", "default", "description")}
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": prop.get("description", ""),
                    "schema": schema,
                }
            )
        extra: dict[str, Any] = {"parameters": parameters}
        if "format" in self.params:
            extra["responses"] = {"200": {"content": {"text/csv": {"schema": {"type": "string"}}}}}
        return extra


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
