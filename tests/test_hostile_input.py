"""Hostile input to the serving API: SQL injection in every parameter of every list endpoint,
numbers out of range, unknown columns, bytes that are not UTF-8, path tricks, forged cursors,
oversized and malformed bodies, oversized headers.

Each is answered with a 4xx in the one error envelope, or with a correct answer (an injection
string is a value like any other), never a 5xx. A rejected request runs no query: the app's own
statement counter (`ctx.db.queries`, exported on /metrics as `serving_db_queries`) does not move.
The warehouse is intact afterwards: every table keeps its row count and a canary table its rows.
The in-process tests run on SQLite and PostgreSQL; the transport-level ones (chunked and lying
bodies, raw bytes, huge headers) against a real `python -m serving`, where uvicorn's HTTP parser
answers some requests itself before the app sees them.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from core.contracts import CONTRACTS, Column, Contract
from serving.query import encode_cursor

try:  # tests/ as a package or as a plain folder
    from tests.processes import serve_api
    from tests.serving_fixtures import client_for, served_sqlite
    from tests.writable_fixtures import (
        CANARY_ROWS,
        canary_rows,
        execute,
        table_counts,
        writable_postgres,
        writable_sqlite,
        writable_url,
    )
except ModuleNotFoundError:
    from processes import serve_api
    from serving_fixtures import client_for, served_sqlite  # noqa: F401
    from writable_fixtures import (  # noqa: F401
        CANARY_ROWS,
        canary_rows,
        execute,
        table_counts,
        writable_postgres,
        writable_sqlite,
        writable_url,
    )

KEY = "hostile-key"
AUTH = {"X-API-Key": KEY}
ERROR_KEYS = {"status", "code", "message", "details"}
# Statement kinds that read data; the catalog's own reads (table versions) do not count.
DATA_KINDS = ("data", "count", "export")

INJECTIONS = (
    "' OR '1'='1",
    "' OR 1=1 --",
    "1 OR 1=1",
    "'; DROP TABLE hostile_canary; --",
    "1; DROP TABLE hostile_canary",
    '" OR ""="',
    "') OR ('a'='a",
    "x' UNION SELECT name, sql FROM sqlite_master --",
    "x' UNION SELECT table_name, NULL FROM information_schema.tables --",
    "%' OR 'x' LIKE '%",
    "%",
    "_",
    "\\'; DELETE FROM hostile_canary; --",
    "*/ DROP TABLE hostile_canary; /*",
    "$$; DROP TABLE hostile_canary; $$",
    'NEAR("order" "handled") OR * ^name:x',  # FTS5 syntax
    "order:* & !handled | (worker <-> 3)",  # tsquery syntax
    "-1",
    "9223372036854775808",
    "1e999",
)
# The list endpoints and the table each one lists (every GET with a `cursor`, but /tables/{name}).
LIST_ENDPOINTS = {
    "/data": "records",
    "/users": "users",
    "/posts": "posts",
    "/countries": "countries",
    "/sales/orders": "sales_orders",
    "/sales/daily": "sales_daily",
    "/sales/rejects": "sales_rejects",
    "/logs": "logs",
    "/logs/levels": "log_levels_hourly",
}
# Declared parameters that filter on a text value: an injection string matches no row.
TEXT_FILTERS = {"source", "product", "customer", "service", "continent", "currency", "language"}


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def api(writable_url: str) -> Iterator[TestClient]:
    with client_for(writable_url, api_keys=KEY, version_refresh_ms=0) as client:
        yield client


def data_queries(client: TestClient) -> int:
    counter = client.app.state.ctx.db.queries
    return sum(counter[kind] for kind in DATA_KINDS)


def assert_envelope(response: Any, status: int | None = None, code: str | None = None) -> None:
    """The one error envelope, whatever answered (a route, a middleware, the router)."""
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["status"] == response.status_code
    assert 400 <= response.status_code < 500, body
    if status is not None:
        assert response.status_code == status, body
    if code is not None:
        assert body["error"]["code"] == code, body


def rejected(
    client: TestClient, path: str, params: Any = None, status: int = 400, code: str | None = None
) -> Any:
    """GET `path`: a 4xx in the envelope, with no data statement run for it."""
    before = data_queries(client)
    response = client.get(path, params=params)
    assert_envelope(response, status, code)
    assert data_queries(client) == before, f"{path} {params} ran a query before its {status}"
    return response


def operators_of(col: Column) -> tuple[str, ...]:
    if col.type == "json":
        return ("contains", "isnull", "eq")
    if col.type == "string":
        return ("eq", "ne", "in", "contains", "gt", "lte")
    return ("eq", "gt", "in", "contains")


def row_check(col: Column, op: str, value: str) -> Callable[[list[dict[str, Any]]], bool]:
    """What every row of a correct answer to `col__op=value` satisfies (text columns)."""
    name = col.name
    if col.type != "string":
        return lambda rows: True
    if op == "eq":
        return lambda rows: all(r[name] == value for r in rows)
    if op == "ne":
        return lambda rows: all(r[name] != value for r in rows)
    if op == "in":
        return lambda rows: all(r[name] in value.split(",") for r in rows)
    if op == "contains":
        return lambda rows: all(value in (r[name] or "") for r in rows)
    return lambda rows: True


def hostile_requests(
    path: str, contract: Contract, declared: dict[str, dict[str, Any]], start: int
) -> Iterator[tuple[dict[str, str], Callable[[list[dict[str, Any]]], bool]]]:
    """Every injection string in every free-text parameter the endpoint declares, three in turn
    in each of its typed ones (numbers, dates, enums, patterns: all a 400), and one in turn in
    every `column__op` filter of the table."""
    i = start
    for name, schema in declared.items():
        free_text = schema.get("type") == "string" and not {"enum", "pattern", "format"} & set(
            schema
        )
        payloads = (
            INJECTIONS if free_text else [INJECTIONS[(i + k) % len(INJECTIONS)] for k in range(3)]
        )
        i += 3
        for payload in payloads:
            if name in TEXT_FILTERS:
                yield {name: payload}, lambda rows: rows == []
            else:
                yield {name: payload}, lambda rows: True
    for col in contract.columns:
        for op in operators_of(col):
            payload = INJECTIONS[i % len(INJECTIONS)]
            i += 1
            yield {f"{col.name}__{op}": payload}, row_check(col, op, payload)


def declared_params(spec: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The query parameters of `GET path`, with their schemas."""
    params = spec[path]["get"].get("parameters", [])
    return {p["name"]: p["schema"] for p in params if p["in"] == "query"}


def intact(url: str, before: dict[str, int]) -> None:
    assert table_counts(url) == before
    assert canary_rows(url) == CANARY_ROWS
    if url.startswith("sqlite"):
        assert execute(url, "PRAGMA integrity_check") == [("ok",)]


# -- SQL injection ---------------------------------------------------------------------------
def test_sql_injection_in_every_list_parameter_is_a_400_or_a_correct_answer(
    api: TestClient, writable_url: str
) -> None:
    spec = api.get("/openapi.json").json()["paths"]
    with_cursor = {
        path
        for path, ops in spec.items()
        if "get" in ops and "cursor" in declared_params(spec, path)
    }
    assert with_cursor == {*LIST_ENDPOINTS, "/tables/{name}"}  # a new list endpoint is listed here
    before = table_counts(writable_url)
    targets = [
        (path, CONTRACTS[t], declared_params(spec, path)) for path, t in LIST_ENDPOINTS.items()
    ]
    # Every table through /tables/{name}; its declared parameters (the same on every table)
    # take every injection string on the first table, and three in turn on the others.
    tables = declared_params(spec, "/tables/{name}")
    for k, (name, contract) in enumerate(CONTRACTS.items()):
        declared = tables if k == 0 else {n: {"enum": ["typed"]} for n in tables}
        targets.append((f"/tables/{name}", contract, declared))
    statuses: Counter[int] = Counter()
    for n, (path, contract, declared) in enumerate(targets):
        for params, check in hostile_requests(path, contract, declared, start=n):
            ran = data_queries(api)
            r = api.get(path, params=params)
            statuses[r.status_code] += 1
            if r.status_code == 400:
                assert_envelope(r, 400)
                assert data_queries(api) == ran, (path, params)
            else:
                assert r.status_code == 200, (path, params, r.status_code, r.text[:300])
                assert check(r.json()["data"]), (path, params, r.text[:300])
    # Path parameters: a lookup that finds nothing, or a 400/404.
    for payload in INJECTIONS:
        segment = quote(payload, safe="")
        for path in (f"/users/{segment}", f"/countries/{segment}", f"/tables/{segment}"):
            r = api.get(path)
            statuses[r.status_code] += 1
            assert_envelope(r)
            assert r.status_code in (400, 404), (path, r.text[:300])
    print(f"\n{api.app.state.ctx.db.engine}: statuses {dict(sorted(statuses.items()))}")
    assert statuses[200] > 300 and statuses[400] > 300  # both paths were exercised
    assert set(statuses) <= {200, 400, 404}
    intact(writable_url, before)


def test_injection_strings_in_pushed_records_are_stored_and_served_verbatim(
    api: TestClient, writable_url: str
) -> None:
    batch = [
        {
            "timestamp": "2024-03-01T10:30:00Z",
            "service": payload[:128],
            "severity": "warn",
            "message": payload,
            "attributes": {payload: payload},
            "event_id": f"inj-{i}-{payload}"[:128],
        }
        for i, payload in enumerate(INJECTIONS)
    ]
    before = table_counts(writable_url)
    posted = api.post("/ingest/logs", json=batch, headers=AUTH)
    assert posted.status_code == 201, posted.text
    ids = posted.json()["ids"]
    for record, landing_id in zip(batch, ids, strict=True):
        rows = api.get("/tables/landing_logs", params={"id": landing_id}).json()["data"]
        assert [(r["message"], r["event_id"]) for r in rows] == [
            (record["message"], record["event_id"])
        ]
        assert json.loads(rows[0]["attributes"]) == record["attributes"]
        # Found again by the injection string itself, as an exact value.
        again = api.get(
            "/tables/landing_logs", params={"event_id": record["event_id"], "id": landing_id}
        )
        assert [r["id"] for r in again.json()["data"]] == [landing_id]
    user = {"name": INJECTIONS[3], "email": "o'brien+x@example.org", "role": "analyst"}
    created = api.post("/users", json=user, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/users/o%27brien%2Bx@example.org"
    assert api.get("/users/o'brien+x@example.org").json()["name"] == INJECTIONS[3]
    after = table_counts(writable_url)
    assert after.pop("landing_logs") == before.pop("landing_logs", 0) + len(batch)
    assert after.pop("landing_users") == before.pop("landing_users", 0) + 1
    after.pop("ingest_requests", None), before.pop("ingest_requests", None)
    assert after == before
    assert canary_rows(writable_url) == CANARY_ROWS


# -- numbers, columns, operators -----------------------------------------------------------
OUT_OF_RANGE = [
    ("/data", {"page": "0"}, "invalid_parameter"),
    ("/data", {"page": "-1"}, "invalid_parameter"),
    ("/data", {"page": "9" * 30}, "invalid_parameter"),
    ("/data", {"page_size": "1000000"}, "invalid_parameter"),
    ("/data", {"page": "1000000000", "page_size": "100"}, "page_too_deep"),
    ("/data", {"limit": "-5"}, "invalid_parameter"),
    ("/data", {"limit": "0"}, "invalid_parameter"),
    ("/data", {"limit": "1e3"}, "invalid_parameter"),
    ("/data", {"limit": "1001"}, "invalid_parameter"),
    ("/data", {"page": "1", "limit": "5"}, "invalid_parameter"),
    ("/posts", {"user_id": str(2**63)}, "invalid_parameter"),
    ("/posts", {"user_id": str(-(2**63) - 1)}, "invalid_parameter"),
    ("/posts", {"user_id": "1.5"}, "invalid_parameter"),
    ("/posts", {"user_id": "0x10"}, "invalid_parameter"),
    ("/sales/orders", {"min_quantity": "-1"}, "invalid_parameter"),
    ("/sales/orders", {"max_quantity": str(2**62 + 1)}, "invalid_parameter"),
    ("/sales/orders", {"min_price": "1e309"}, "invalid_parameter"),
    ("/sales/orders", {"max_price": "nan"}, "invalid_parameter"),
    ("/sales/orders", {"min_price": "-inf"}, "invalid_parameter"),
    ("/sales/orders", {"date_from": "2024-02-30"}, "invalid_parameter"),
    ("/sales/orders", {"date_to": "+99999-01-01"}, "invalid_parameter"),
    ("/sales/orders", {"date_to": "0000-00-00"}, "invalid_parameter"),
    ("/tables/sales_orders", {"quantity": str(2**63)}, "invalid_value"),
    ("/tables/sales_orders", {"quantity__gt": "-" + "9" * 30}, "invalid_value"),
    ("/tables/sales_orders", {"price": "1e400"}, "invalid_value"),
    ("/tables/sales_orders", {"price__lt": "NaN"}, "invalid_value"),
    ("/tables/sales_orders", {"order_date": "2024-13-01"}, "invalid_value"),
    ("/tables/records", {"created_at__gt": "9999-12-31T23:59:59-14:00"}, "invalid_value"),
    ("/tables/records", {"created_at__lt": "0001-01-01T00:00:00+14:00"}, "invalid_value"),
    ("/tables/sales_orders", {"quantity__in": ",".join(["1"] * 101)}, "invalid_value"),
    ("/tables/sales_orders", {"product": "x" * 1001}, "invalid_value"),
    ("/tables/sales_orders", {"no_such_column": "1"}, "unknown_parameter"),
    ("/tables/sales_orders", {"": "1"}, "unknown_parameter"),
    ("/tables/sales_orders", {"__": "1"}, "unknown_parameter"),
    ("/tables/sales_orders", {"product__regex": ".*"}, "invalid_operator"),
    ("/tables/sales_orders", {"quantity__contains": "1"}, "invalid_operator"),
    ("/tables/sales_orders", {"product__isnull": "maybe"}, "invalid_value"),
    ("/tables/sales_orders", {"search": "mug"}, "invalid_parameter"),
    ("/tables/countries", {"languages": "de"}, "invalid_operator"),
    ("/tables/sales_orders", {"sort": "no_such_column"}, "invalid_sort"),
    ("/tables/sales_orders", {"sort": "price; DROP TABLE x"}, "invalid_parameter"),
    ("/tables/countries", {"sort": "languages"}, "invalid_sort"),
    ("/sales/orders", {"search": "mug"}, "unknown_parameter"),
    ("/logs/levels", {"hour_from": "2024-03-01-10:00' OR 1=1"}, "invalid_parameter"),
]


def test_numbers_out_of_range_and_unknown_columns_are_400_before_any_query(
    api: TestClient,
) -> None:
    for path, params, code in OUT_OF_RANGE:
        rejected(api, path, params, 400, code)


def test_extreme_but_valid_numbers_get_correct_answers(api: TestClient) -> None:
    total = api.get("/tables/sales_orders", params={"count": "true"}).json()["total"]

    def rows(**params: str) -> list[dict[str, Any]]:
        r = api.get("/tables/sales_orders", params=params | {"limit": "1000"})
        assert r.status_code == 200, r.text
        return r.json()["data"]

    assert rows(quantity__gt=str(2**63 - 1)) == []
    assert rows(quantity__lt=str(-(2**63))) == []
    assert len(rows(quantity__gte=str(-(2**63)), count="true")) == min(total, 1000)
    assert len(rows(price__lt="1e308")) == min(total, 1000)
    assert rows(price__gt="1.7976931348623157e308") == []
    assert rows(order_date__lt="0001-01-01") == []
    assert len(rows(order_date__lte="9999-12-31")) == min(total, 1000)
    many = api.get("/tables/sales_orders", params={"order_id__in": ",".join(["x"] * 100)})
    assert many.status_code == 200 and many.json()["data"] == []


# -- bytes that are not UTF-8 ------------------------------------------------------------------
def test_bytes_that_are_not_utf8_in_queries_paths_and_bodies(
    api: TestClient, writable_url: str
) -> None:
    # Percent-encoded invalid UTF-8 in a query decodes to U+FFFD: a text value matches nothing,
    # a typed one is a 400.
    for query in ("name=%FF%FE", "name__in=%FF,%C0%AF", "name__contains=%ED%A0%80"):
        r = api.get(f"/tables/records?{query}")
        assert r.status_code == 200 and r.json()["data"] == [], (query, r.text[:200])
    assert api.get("/data?search=%FF%FE").json()["data"] == []
    rejected(api, "/posts?user_id=%FF", code="invalid_parameter")
    rejected(api, "/sales/orders?date_from=%ED%A0%80", code="invalid_parameter")
    rejected(api, "/tables/records?created_at__gt=%FF", code="invalid_value")
    for path in ("/users/%FF%FE%40example.org", "/countries/%FF", "/tables/%C0%AF"):
        r = api.get(path)
        assert r.status_code == 404, path
        assert_envelope(r, 404, "not_found")

    before = table_counts(writable_url)
    record = (
        b'{"timestamp": "2024-03-01T10:00:00Z", "service": "s", "severity": "INFO", '
        b'"message": "caf\xe9 \xff\xfe"}'
    )
    user = b'{"name": "Jos\xe9", "email": "jose@example.org", "role": "analyst"}'
    utf16 = json.dumps([{"message": "x"}]).encode("utf-16")
    json_headers = AUTH | {"Content-Type": "application/json"}
    for path, body in (
        ("/ingest/logs", b"[" + record + b"]"),
        ("/ingest/logs", utf16),
        ("/ingest/logs", b"\xef\xbb\xbf[]"),
        ("/users", user),
    ):
        r = api.post(path, content=body, headers=json_headers)
        assert_envelope(r, 422, "invalid_body")
    # Header values are bytes to HTTP: the key is read as Latin-1, so one such Idempotency-Key
    # works like any other; a key that is not one of SERVING_API_KEYS is a 401.
    good = [{"timestamp": "2024-03-01T10:00:00Z", "service": "s", "severity": "INFO"}]
    good[0]["message"] = "keyed by bytes"
    headers = {"X-API-Key": KEY, "Idempotency-Key": b"\xff\xfe-key"}
    first = api.post("/ingest/logs", json=good, headers=headers)
    again = api.post("/ingest/logs", json=good, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    bad_key = api.post("/ingest/logs", json=good, headers={"X-API-Key": b"\xff\xfe"})
    assert_envelope(bad_key, 401, "unauthorized")
    after = table_counts(writable_url)
    assert after.pop("landing_logs") == before.pop("landing_logs") + 1
    after.pop("ingest_requests"), before.pop("ingest_requests", None)
    assert after == before


# -- path tricks ------------------------------------------------------------------------------
TABLE_PATHS = [
    "/tables/%2e%2e",
    "/tables/%2E%2E%2Fusers",
    "/tables/..%2fusers",
    "/tables/%252e%252e%252fusers",
    "/tables/users%00",
    "/tables/users%27",
    "/tables/%22users%22",
    "/tables/users%3BDROP%20TABLE%20hostile_canary",
    "/tables/USERS",
    "/tables/%20users",
    "/tables/hostile_canary",
    "/tables/sqlite_master",
    "/tables/pg_catalog.pg_tables",
    "/tables/ingest_requests",
]


def test_path_tricks_in_table_names_are_404(api: TestClient) -> None:
    """Only contract tables are served: no other name, however spelled, reaches the database."""
    for path in TABLE_PATHS:
        rejected(api, path, status=404, code="not_found")
    rejected(api, "/tables/" + "a" * 65, status=400, code="invalid_parameter")
    rejected(api, "/users/" + "a" * 321, status=400, code="invalid_parameter")
    rejected(api, "/users/a%00b@example.org", status=400, code="invalid_value")
    rejected(api, "/countries/fr%00", status=400, code="invalid_value")


# -- cursors ----------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_forged_and_tampered_cursors_are_400_before_any_query(api: TestClient) -> None:
    path, params = "/sales/orders", {"sort": "product", "limit": "3"}
    first = api.get(path, params=params).json()
    token, second = first["next"], api.get(path, params=params | {"cursor": first["next"]})
    assert second.status_code == 200 and token
    other = second.json()["next"]
    body, mac = token.split(".")
    flip = {"A": "B"}.get(body[-1], "A")
    secret = api.app.state.ctx.cursor_key
    payload = _payload(token)

    def signed(**changes: Any) -> str:
        return encode_cursor(secret, payload | changes)

    forged = [
        body[:-1] + flip + "." + mac,
        body + "." + mac[:-1] + {"A": "B"}.get(mac[-1], "A"),
        body + "." + other.split(".")[1],
        token[:-4],
        token + "=",
        token + ".x",
        "a.b",
        ".",
        "....",
        _b64(orjson.dumps(payload)),
        _b64(orjson.dumps(payload)) + "." + _b64(b"0" * 12),
        encode_cursor(b"another deployment's secret", payload),
        signed(v=[]),
        signed(v=payload["v"][:2]),
        signed(v=[*payload["v"], 1]),
        signed(v="' OR 1=1 --"),
        signed(v={"product": "x"}),
        signed(v=[{"$gt": ""}, payload["v"][1], payload["v"][2]]),
        signed(v=[None, payload["v"][1], payload["v"][2]]),
        signed(v=[payload["v"][0], "9999-99-99", payload["v"][2]]),
        signed(v=[payload["v"][0], "'; DROP TABLE hostile_canary; --", payload["v"][2]]),
        signed(v=[payload["v"][0], payload["v"][1], 2**64 - 1]),
        signed(t="users"),
        signed(f="0" * 18),
    ]
    for cursor in forged:
        r = rejected(api, path, params | {"cursor": cursor})
        assert r.json()["error"]["code"] in ("invalid_cursor", "invalid_value"), cursor
    rejected(api, path, params | {"cursor": "x" * 5000}, code="invalid_parameter")
    rejected(api, path, params | {"cursor": token, "page": "2"}, code="invalid_parameter")
    # A cursor belongs to its query: another sort, filter, listing or table is refused.
    rejected(api, path, {"sort": "price", "cursor": token}, code="invalid_cursor")
    rejected(api, path, params | {"product": "Mug", "cursor": token}, code="invalid_cursor")
    rejected(api, "/tables/sales_orders", params | {"cursor": token}, code="invalid_cursor")
    rejected(api, "/users", {"cursor": token}, code="invalid_cursor")


def test_a_validly_signed_cursor_with_an_injection_string_is_only_a_value(
    api: TestClient,
) -> None:
    """Even the key that signs cursors cannot put SQL into a query: the cursor's values are
    typed again and bound, so the page is the one after that value."""
    path, params = "/sales/orders", {"sort": "product", "limit": "3"}
    token = api.get(path, params=params).json()["next"]
    payload = _payload(token)
    value = "' OR 1=1 --"
    cursor = encode_cursor(
        api.app.state.ctx.cursor_key, payload | {"v": [value, *payload["v"][1:]]}
    )
    page = api.get(path, params=params | {"cursor": cursor})
    assert page.status_code == 200, page.text
    expected = api.get(path, params=params | {"product__gt": value})
    assert page.json()["data"] == expected.json()["data"]
    # Hostile filters round-trip through `next` like any other.
    hostile = {"product__ne": value, "customer_id__ne": "'; DROP TABLE x; --", "limit": "2"}
    walked = []
    query = dict(hostile)
    for _ in range(3):
        r = api.get("/tables/sales_orders", params=query)
        assert r.status_code == 200, r.text
        walked += r.json()["data"]
        query = hostile | {"cursor": r.json()["next"]}
    straight = api.get("/tables/sales_orders", params={**hostile, "limit": "6"}).json()["data"]
    assert walked == straight


# -- bodies (in process) --------------------------------------------------------------------
def _record(**overrides: Any) -> dict[str, Any]:
    base = {"timestamp": "2024-03-01T10:00:00Z", "service": "s", "severity": "INFO"}
    return base | {"message": "m"} | overrides


def test_malformed_and_oversized_bodies_are_4xx_and_store_nothing(writable_url: str) -> None:
    deep: Any = 1
    for _ in range(300):
        deep = {"a": deep}
    big_int = b'{"n": 123456789012345678901234567890}'
    log_bodies = {
        "over the byte cap": (json.dumps([_record(message="x" * 5000)]).encode(), 413),
        "over the record cap": (json.dumps([_record() for _ in range(6)]).encode(), 413),
        "not JSON": (b"[{'timestamp': 1}]", 422),
        "empty": (b"", 422),
        "null": (b"null", 422),
        "arrays nested 1,020 deep": (b"[" * 1020 + b"]" * 1020, 422),
        "attributes nested 300 deep": (json.dumps([_record(attributes=deep)]).encode(), 422),
        "an integer beyond 64 bits": (
            json.dumps([_record()]).encode()[:-2] + b', "attributes": ' + big_int + b"}]",
            422,
        ),
        "NUL in the message": (json.dumps([_record(message="a\x00b")]).encode(), 422),
        "NUL in the service": (json.dumps([_record(service="a\x00")]).encode(), 422),
        "NUL in an attribute key": (json.dumps([_record(attributes={"k\x00": 1})]).encode(), 422),
        "NUL in an attribute": (json.dumps([_record(attributes={"k": "\x00"})]).encode(), 422),
        "year 9999 west of UTC": (
            json.dumps([_record(timestamp="9999-12-31T23:59:59-14:00")]).encode(),
            422,
        ),
        "year 1 east of UTC": (
            json.dumps([_record(timestamp="0001-01-01T00:00:00+14:00")]).encode(),
            422,
        ),
        "a lone surrogate": (b'[{"message": "\\ud800"}]', 422),
    }
    user_bodies = {
        "over 64 KB": (json.dumps({"name": "x" * 70_000}).encode(), 413),
        "NUL in the name": (b'{"name": "a\\u0000", "email": "n@example.org", "role": "r"}', 422),
        "NUL in the email": (b'{"name": "a", "email": "n\\u0000@example.org", "role": "r"}', 422),
        "an array": (b"[]", 422),
    }
    with client_for(
        writable_url, api_keys=KEY, ingest_max_bytes=4096, ingest_max_records=5
    ) as client:
        before = table_counts(writable_url)
        for path, bodies in (("/ingest/logs", log_bodies), ("/users", user_bodies)):
            for what, (body, status) in bodies.items():
                r = client.post(
                    path, content=body, headers=AUTH | {"Content-Type": "application/json"}
                )
                assert r.status_code == status, (path, what, r.status_code, r.text[:300])
                assert_envelope(r, status)
        r = client.post("/ingest/logs", content=b"a,b", headers=AUTH | {"Content-Type": "text/csv"})
        assert_envelope(r, 415, "unsupported_media_type")
        long_key = AUTH | {"Idempotency-Key": "k" * 256}
        assert_envelope(client.post("/ingest/logs", json=[_record()], headers=long_key), 400)
        assert table_counts(writable_url) == before


# -- a real uvicorn ---------------------------------------------------------------------------
def _raw(base: str, request: bytes, *, half_close: bool = False) -> bytes:
    """Send `request` as raw bytes; everything the server answers until it closes."""
    host, port = base.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _json_body(answer: bytes) -> dict[str, Any]:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def _db_queries(base: str) -> int:
    text = httpx.get(f"{base}/metrics").text
    found = re.findall(r'^serving_db_queries_total\{kind="(\w+)"\} ([0-9.e+]+)$', text, re.M)
    return int(sum(float(n) for kind, n in found if kind in DATA_KINDS))


def test_transport_level_abuse_against_a_real_uvicorn(writable_sqlite: str, tmp_path: Path) -> None:
    """What `python -m serving` answers to bodies and headers no client library would send.
    Where uvicorn's HTTP parser (httptools) refuses a request before the app sees it, the answer
    is its own plain-text 400 and the connection is closed; everything else is the app's 4xx
    in the envelope."""
    limit = 2048
    big = json.dumps([_record(message="x" * 10_000)]).encode()
    head = (
        b"POST /ingest/logs HTTP/1.1\r\nHost: t\r\nX-API-Key: " + KEY.encode() + b"\r\n"
        b"Content-Type: application/json\r\n"
    )
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(big[i : i + 999]), big[i : i + 999]) for i in range(0, len(big), 999)
    )
    before = table_counts(writable_sqlite)
    with serve_api(writable_sqlite, tmp_path, api_keys=KEY, ingest_max_bytes=limit) as base:
        queries = _db_queries(base)
        app_answers = {
            # Refused as soon as the declared length is read, before any body byte.
            "honest Content-Length over the cap": head
            + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(big)
            + big,
            "Content-Length of a gigabyte, 2 bytes sent": head
            + b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n[{",
            # No length at all: counted while it streams in.
            "chunked, no Content-Length": head
            + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + chunks
            + b"0\r\n\r\n",
        }
        for what, request in app_answers.items():
            answer = _raw(base, request)
            assert _status(answer) == 413, (what, answer[:300])
            assert _json_body(answer)["error"]["code"] == "payload_too_large", what
        # httptools refuses these itself: a plain-text 400, and the connection closed.
        server_answers = {
            "negative Content-Length": head + b"Content-Length: -1\r\n\r\n",
            "Content-Length not a number": head + b"Content-Length: abc\r\n\r\n",
            "two Content-Lengths": head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n[]x",
            "Content-Length and chunked": head
            + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "a chunk size that is not hex": head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            # The body is read up to the declared 100 bytes; the rest is parsed as the next
            # request, which is garbage: the server answers 400 and closes.
            "Content-Length lying small": head + b"Content-Length: 100\r\n\r\n" + big,
            "raw bytes not UTF-8 in the query": b"GET /data?search=\xff\xfe HTTP/1.1\r\n\r\n",
            "raw bytes not UTF-8 in the path": b"GET /tables/\xff HTTP/1.1\r\nHost: t\r\n\r\n",
            "a NUL in the path": b"GET /tables/users\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
            "a 100 KB request line": b"GET /data?search=" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
        }
        for what, request in server_answers.items():
            answer = _raw(base, request)
            assert _status(answer) == 400, (what, answer[:300])
            assert answer.endswith(b"\r\n\r\nInvalid HTTP request received."), (what, answer)
        # The body stops short and the client hangs up: the app sees the disconnect (a 400 in
        # its access log and metrics, not a 500); there is nobody left to answer.
        short = head + b"Content-Length: 1500\r\n\r\n[{"
        assert _raw(base, short, half_close=True) == b""
        # `..` is not resolved by the server: the router sees the literal segments.
        dots = _raw(base, b"GET /tables/.. HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert _status(dots) == 404 and _json_body(dots)["error"]["code"] == "not_found"
        dots = _raw(base, b"GET /tables/../users HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert _status(dots) == 404 and _json_body(dots)["error"]["code"] == "not_found"
        assert _db_queries(base) == queries  # nothing above ran a data query
        # Headers: httptools sets no size limit, so a 1 MB header or 5,000 headers reach the
        # app, which answers as usual (a 1 MB X-API-Key is compared and refused like any wrong
        # key); the request line, by contrast, is capped (above).
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/ping", headers={"X-Big": "a" * 1_000_000}).status_code == 200
            many = {f"X-H{i}": "v" * 100 for i in range(5000)}
            assert http.get("/ping", headers=many).status_code == 200
            wrong = http.post("/ingest/logs", json=[_record()], headers={"X-API-Key": "k" * 10**6})
            assert_envelope(wrong, 401, "unauthorized")
            assert http.get("/data", params={"limit": 1}).status_code == 200  # still serving
            metrics = http.get("/metrics").text
        log = (tmp_path / "serving.log").read_text()
    assert "unhandled error" not in log and "Traceback" not in log
    answered = dict(
        re.findall(r"^serving_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", metrics, re.M)
    )
    assert answered and not [labels for labels in answered if 'status="5' in labels]
    # The body cut short is counted as the client's 400, as is the body of the lying length
    # when httptools closes the connection before the app has read it (httptools' own 400s
    # never reach the app).
    assert float(answered['method="POST",route="/ingest/logs",status="400"']) >= 1
    assert table_counts(writable_sqlite) == before
    assert canary_rows(writable_sqlite) == CANARY_ROWS
