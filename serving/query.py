"""Query semantics shared by every list endpoint: typed filters, sorting, keyset cursors, SQL.

Identifiers only ever come from a contract (the allow-list); every value is a bound parameter,
converted to its column's type first, so a request can neither name an unknown column nor put
text into the SQL. Cursors are signed: a forged or altered cursor is a 400, never SQL.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from core.contracts import Column, Contract
from core.contracts.schema import COERCE
from core.sql import primary_key, quote
from serving.core.errors import ApiError
from serving.db.base import Database, Work

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "isnull")
SQL_OPS = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
MAX_VALUE_CHARS = 1000
MAX_IN_ITEMS = 100


# -- values ----------------------------------------------------------------------------------
def check_text(value: str, what: str) -> str:
    if len(value) > MAX_VALUE_CHARS:
        raise ApiError(400, "invalid_value", f"{what}: longer than {MAX_VALUE_CHARS} characters")
    if "\x00" in value:
        raise ApiError(400, "invalid_value", f"{what}: NUL characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "invalid_value", f"{what}: not valid UTF-8") from None
    return value


# The words a bool value may be spelled with, any case.
BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_value(col: Column, text: str) -> Any:
    """`text` as a value of `col`'s type, by the contracts' own coercion; a 400 naming the
    column when it is not one. Surrounding spaces are dropped but for strings; a date is
    `YYYY-MM-DD`, and a timestamp of that length is the day's midnight (UTC)."""
    check_text(text, col.name)
    value: Any = text if col.type == "string" else text.strip()
    try:
        if col.type == "bool":
            return BOOL_WORDS[value.lower()]
        if col.type in ("date", "timestamp") and len(value) == 10:
            value = COERCE["date"](value)
        elif col.type == "date":
            raise ValueError("not YYYY-MM-DD")
        value = COERCE[col.type](value)
        if col.type == "float" and not math.isfinite(value):
            raise ValueError("not finite")
    except (ValueError, TypeError, OverflowError, KeyError):
        raise ApiError(
            400, "invalid_value", f"{col.name}: {text[:80]!r} is not a valid {col.type}"
        ) from None
    return value


# -- filters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filter:
    column: Column
    op: str
    value: Any


@dataclass(frozen=True)
class Condition:
    """A fixed SQL condition written by a route (identifiers from contracts), with its values."""

    sql: str
    params: tuple[Any, ...]


def parse_filter(contract: Contract, name: str, raw: str) -> Filter:
    """`col`, `col__op` = `raw` as a typed filter; 400 for an unknown column or operator."""
    column, _, op = name.partition("__")
    op = op or "eq"
    try:
        col = contract.column(column)
    except KeyError:
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown parameter {name[:60]!r}: not an option of this endpoint nor a column of "
            f"{contract.name}",
            {"columns": contract.column_names},
        ) from None
    if op not in OPERATORS:
        raise ApiError(
            400,
            "invalid_operator",
            f"{column}: unknown operator {op[:30]!r}",
            {"operators": list(OPERATORS)},
        )
    if op == "isnull":
        return Filter(col, op, parse_value(Column("isnull", "bool"), raw))
    if col.type == "json" and op not in ("contains",):
        raise ApiError(
            400, "invalid_operator", f"{column}: a json column supports contains, isnull"
        )
    if op == "contains":
        if col.type not in ("string", "json"):
            raise ApiError(400, "invalid_operator", f"{column}: contains needs a text column")
        if not raw:
            raise ApiError(400, "invalid_value", f"{column}__contains: empty value")
        return Filter(col, op, check_text(raw, column))
    if op == "in":
        items = raw.split(",")
        if len(items) > MAX_IN_ITEMS:
            raise ApiError(400, "invalid_value", f"{column}__in: more than {MAX_IN_ITEMS} values")
        return Filter(col, op, tuple(parse_value(col, item) for item in items))
    return Filter(col, op, parse_value(col, raw))


# -- sorting -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """The total order of a listing: the sort column (if any), then the primary key."""

    terms: tuple[tuple[Column, bool], ...]  # (column, descending)

    @functools.cached_property
    def _hash(self) -> int:
        return hash(self.terms)

    def __hash__(self) -> int:
        # A key of the SQL caches on every request: hash the columns once, not every time.
        return self._hash

    @property
    def spec(self) -> list[list[Any]]:
        return [[c.name, d] for c, d in self.terms]


def sortable(contract: Contract) -> list[str]:
    return [c.name for c in contract.columns if c.type != "json"]


def sort_choices(contract: Contract) -> str:
    """The valid values of `sort` on `contract`, in words."""
    return f"one of: {', '.join(sortable(contract))} (`-column` sorts descending)"


def parse_sort(contract: Contract, sort: str | None) -> Order:
    pk = [contract.column(c) for c in primary_key(contract)]
    if not sort:
        return Order(tuple((c, False) for c in pk))
    desc = sort.startswith("-")
    name = sort.lstrip("-+ ")
    col = next((c for c in contract.columns if c.name == name and c.type != "json"), None)
    if col is None:
        raise ApiError(
            400,
            "invalid_sort",
            f"sort must be {sort_choices(contract).replace('`', '')}; got {sort[:60]!r}",
            {"sortable": sortable(contract)},
        )
    # The key breaks ties in the sort's direction, so one index serves both.
    return Order(((col, desc), *((c, desc) for c in pk if c.name != col.name)))


# -- cursors -----------------------------------------------------------------------------------
_TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(secret: bytes, payload: dict[str, Any]) -> str:
    body = orjson.dumps(payload)
    mac = hmac.new(secret, body, hashlib.sha256).digest()[:12]
    return _b64(body) + "." + _b64(mac)


def decode_cursor(secret: bytes, token: str) -> dict[str, Any]:
    bad = ApiError(400, "invalid_cursor", "the cursor is malformed or was not issued by this API")
    if len(token) > 4096 or not _TOKEN.fullmatch(token):
        raise bad
    body_text, mac_text = token.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise bad from None
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()[:12]):
        raise bad
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad from None
    if not isinstance(payload, dict):
        raise bad
    return payload


def cursor_values(order: Order, values: list[Any]) -> list[Any]:
    """The last row's sort values from a cursor, typed again (None only where nullable)."""
    bad = ApiError(400, "invalid_cursor", "the cursor does not fit this listing")
    if not isinstance(values, list) or len(values) != len(order.terms):
        raise bad
    out = []
    for (col, _), value in zip(order.terms, values, strict=True):
        if value is None:
            if not col.nullable:
                raise bad
            out.append(None)
        elif col.type in ("int", "float") and isinstance(value, int | float):
            out.append(value)
        elif col.type == "bool" and isinstance(value, int):
            out.append(bool(value))
        elif isinstance(value, str):
            out.append(parse_value(col, value))
        else:
            raise bad
    return out


# -- SQL ---------------------------------------------------------------------------------------
@dataclass
class Select:
    """One listing query, built from a contract and typed request parts."""

    contract: Contract
    filters: list[Filter] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    search: str | None = None
    order: Order | None = None

    def where(self, db: Database, after: list[Any] | None = None) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        p = db.placeholder
        for f in self.filters:
            name = quote(f.column.name)
            if f.op == "isnull":
                parts.append(f"{name} IS {'' if f.value else 'NOT '}NULL")
            elif f.op == "contains":
                parts.append(db.contains(name))
                params.append(f.value)
            elif f.op == "in":
                parts.append(f"{name} IN ({', '.join([p] * len(f.value))})")
                params.extend(db.bind(f.column, v) for v in f.value)
            else:
                parts.append(f"{name} {SQL_OPS[f.op]} {p}")
                params.append(db.bind(f.column, f.value))
        for c in self.conditions:
            parts.append(c.sql)
            params.extend(c.params)
        if self.search is not None:
            parts.append(db.search(self.contract))
            params.append(self.search)
        if after is not None and self.order is not None:
            sql, values = keyset(db, self.order, after)
            parts.append(sql)
            params.extend(values)
        return (" WHERE " + " AND ".join(parts)) if parts else "", params

    def columns_sql(self, db: Database) -> str:
        return ", ".join(db.select_expr(c) for c in self.contract.columns)

    def rows_sql(
        self,
        db: Database,
        *,
        after: list[Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> tuple[str, list[Any]]:
        assert self.order is not None
        where, params = self.where(db, after)
        # With a full-text search, let the index's matches drive the query (then sort them)
        # rather than walking the whole key order looking for matches.
        order = ", ".join(
            db.order_term(c, d, driven=self.search is not None) for c, d in self.order.terms
        )
        table = quote(self.contract.name)
        sql = f"SELECT {self.columns_sql(db)} FROM {table}{where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"
        return sql, params

    def count_sql(self, db: Database, cap: int) -> tuple[str, list[Any]]:
        where, params = self.where(db)
        inner = f"SELECT 1 FROM {quote(self.contract.name)}{where} LIMIT {int(cap) + 1}"
        return f"SELECT COUNT(*) FROM ({inner}) AS capped", params

    @property
    def filtered(self) -> bool:
        return bool(self.filters or self.conditions or self.search is not None)

    def work(self, limit: int | None = None, offset: int = 0) -> Work:
        """What reading these rows takes: a full-text search; a range of the primary key's
        index (no filter, the key's order either way, a limit and no offset); or a scan."""
        if self.search is not None:
            return Work.SEARCH
        order = self.order
        if (
            limit is not None
            and not offset
            and not self.filtered
            and order is not None
            and tuple(c.name for c, _ in order.terms) == primary_key(self.contract)
        ):
            return Work.RANGE
        return Work.SCAN


def keyset(db: Database, order: Order, after: list[Any]) -> tuple[str, list[Any]]:
    """SQL: the row comes after `after` in `order` (NULL sorts as the largest value)."""
    sql, picks = _keyset_template(db.placeholder, order, tuple(v is None for v in after))
    values = [db.bind(c, v) for (c, _), v in zip(order.terms, after, strict=True)]
    return sql, [values[i] for i in picks]


@functools.lru_cache(maxsize=1024)
def _keyset_template(
    p: str, order: Order, nulls: tuple[bool, ...], first: int = 0
) -> tuple[str, tuple[int, ...]]:
    """The SQL of `keyset` for values NULL where `nulls` says, and which value (an index into
    the sort values) each placeholder takes: the text depends on nothing else, so it is built
    once per sort and NULL pattern."""
    terms = list(order.terms)
    if all(d == terms[0][1] for _, d in terms) and not any(
        c.nullable or null for (c, _), null in zip(terms, nulls, strict=True)
    ):
        # One row-value comparison: both engines turn it into an index range.
        op = "<" if terms[0][1] else ">"
        cols = ", ".join(quote(c.name) for c, _ in terms)
        marks = ", ".join([p] * len(terms))
        return f"({cols}) {op} ({marks})", tuple(range(first, first + len(terms)))
    # Expanded form: after on the first term, or equal on it and after on the rest.
    (col, desc), null = terms[0], nulls[0]
    rest_sql, rest_picks = (
        _keyset_template(p, Order(tuple(terms[1:])), nulls[1:], first + 1)
        if len(terms) > 1
        else ("1 = 0", ())
    )
    name = quote(col.name)
    if null:
        # NULL is the largest: ascending, only NULLs follow; descending, every non-NULL does.
        same = f"({name} IS NULL AND {rest_sql})"
        return (f"({same} OR {name} IS NOT NULL)" if desc else same), rest_picks
    op = "<" if desc else ">"
    after_sql = f"{name} {op} {p}"
    if col.nullable and not desc:
        after_sql = f"({after_sql} OR {name} IS NULL)"
    return f"({after_sql} OR ({name} = {p} AND {rest_sql}))", (first, first, *rest_picks)
