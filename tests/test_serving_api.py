"""Every endpoint of the serving API, on SQLite and on PostgreSQL, over a warehouse filled by
materializing the real assets (shared read-only by the tests of one engine)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import operator
import types
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import (
        api,
        client_for,
        served_postgres,
        served_sqlite,
        served_url,
    )
except ModuleNotFoundError:
    from serving_fixtures import (  # noqa: F401
        api,
        client_for,
        served_postgres,
        served_sqlite,
        served_url,
    )

from core.contracts import CONTRACTS
from core.warehouse import open_warehouse
from serving.schemas import row_model

ERROR_KEYS = {"status", "code", "message", "details"}


def table_rows(url: str, name: str) -> list[dict[str, Any]]:
    """The whole table straight from the database, in the API's JSON form."""
    contract = CONTRACTS[name]
    wh = open_warehouse(url)
    cols = ", ".join(f'"{c}"' for c in contract.column_names)
    out = []
    for raw in wh.query(f'SELECT {cols} FROM "{name}"'):
        row = {}
        for col, value in zip(contract.columns, raw, strict=True):
            if value is not None:
                if col.type == "json" and isinstance(value, str):
                    value = json.loads(value)
                elif col.type == "timestamp":
                    value = (
                        value.replace(" ", "T")
                        if isinstance(value, str)
                        else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    )
                elif col.type == "date" and not isinstance(value, str):
                    value = value.isoformat()
                elif col.type == "bool":
                    value = bool(value)
            row[col.name] = value
        out.append(row)
    return out


def walk(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of a listing, following `next` cursors."""
    rows: list[dict[str, Any]] = []
    query = dict(params)
    for _ in range(10_000):
        r = client.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        rows += body["data"]
        if body["next"] is None:
            return rows
        assert len(body["data"]) == body["limit"]
        query = dict(params, cursor=body["next"])
    raise AssertionError("the walk did not end")


def assert_error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["status"] == status
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


def key_of(name: str):
    contract = CONTRACTS[name]
    pk = ([contract.partition_column] if contract.partition_column else []) + [
        k for k in contract.key if k != contract.partition_column
    ]
    return lambda row: tuple(row[k] for k in pk)


# -- discovery ----------------------------------------------------------------------------------
def test_root_links_to_every_endpoint_and_docs(api: TestClient) -> None:
    links = api.get("/").json()["links"]
    paths = set(api.get("/openapi.json").json()["paths"])
    for name, link in links.items():
        r = api.get(link)
        assert r.status_code == 200, (name, r.text)
    for path in ("/data", "/users/{email}", "/countries/{code}", "/sales/orders", "/tables/{name}"):
        assert path in paths
    docs = api.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_root_links_every_route_of_the_app(api: TestClient) -> None:
    root = api.get("/").json()
    assert set(root) == {"name", "links", "templates", "push"}
    linked = {*root["links"].values(), *root["templates"].values(), *root["push"].values()}
    spec = api.get("/openapi.json").json()["paths"]
    assert set(spec) <= linked, set(spec) - linked
    # Every route of the app (routers included), but Swagger UI's OAuth2 redirect page.
    routes = {
        (route.path, method)
        for route in iter_route_contexts(api.app.routes)
        if route.path != "/docs/oauth2-redirect"
        for method in getattr(route, "methods", None) or ()
    }
    gets = {path for path, method in routes if method == "GET"}
    posts = {path for path, method in routes if method == "POST"}
    assert gets == {*root["links"].values(), *root["templates"].values()}
    assert posts == set(root["push"].values()) == {"/ingest/logs", "/users"}
    for name, template in root["templates"].items():
        assert "{" in template and template in spec, name
    assert api.get(root["templates"]["table"].format(name="users")).status_code == 200


def test_the_spec_documents_the_answers_an_invalid_path_parameter_gets(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    # Each path parameter's longest value (Path(max_length=...)), one character over.
    for template, longest in (
        ("/users/{email}", 320),
        ("/countries/{code}", 8),
        ("/tables/{name}", 64),
    ):
        answers = spec["paths"][template]["get"]["responses"]
        assert "400" in answers and "422" not in answers, (template, sorted(answers))
        assert answers["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorEnvelope"
        )
        path = template.split("{")[0] + "x" * (longest + 1)
        assert_error(api.get(path), 400, "invalid_parameter")
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    # The push endpoints do answer 422 (records that fail validation), in the envelope.
    for path in ("/users", "/ingest/logs"):
        answer = spec["paths"][path]["post"]["responses"]["422"]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")


# -- /data --------------------------------------------------------------------------------------
def test_data_keeps_the_page_contract(api: TestClient, served_url: str) -> None:
    records = table_rows(served_url, "records")
    body = api.get("/data").json()
    assert set(body) >= {"data", "total", "page", "page_size", "has_more"}
    assert (body["page"], body["page_size"], body["total"]) == (1, 10, len(records))
    assert body["has_more"] is True and len(body["data"]) == 10
    first, second = (api.get("/data", params={"page": p, "page_size": 7}).json() for p in (1, 2))
    both = api.get("/data", params={"page_size": 14}).json()["data"]
    assert first["data"] + second["data"] == both
    expected = sorted(records, key=key_of("records"))
    assert both == expected[:14]
    last_page = -(-len(records) // 100)
    tail = api.get("/data", params={"page": last_page, "page_size": 100}).json()
    assert tail["has_more"] is False and tail["data"] == expected[(last_page - 1) * 100 :]
    assert_error(api.get("/data", params={"page_size": 101}), 400, "invalid_parameter")
    assert_error(api.get("/data", params={"page": 0}), 400, "invalid_parameter")


def test_data_source_search_and_cursor_mode(api: TestClient, served_url: str) -> None:
    records = table_rows(served_url, "records")
    users = [r for r in records if r["source"] == "users"]
    page = api.get("/data", params={"source": "users", "page_size": 100}).json()
    assert page["total"] == len(users) and {r["source"] for r in page["data"]} == {"users"}
    everything = walk(api, "/data", limit=333)
    assert everything == sorted(records, key=key_of("records"))
    # Full-text search: every word must match, through the index.
    name = users[0]["name"]
    found = api.get("/data", params={"search": name, "limit": 100}).json()["data"]
    assert users[0] in found
    assert all(
        set(name.lower().split())
        <= set(f"{r['name']} {r['value']} {r['description']}".lower().replace(",", " ").split())
        for r in found
    )
    nothing = api.get("/data", params={"search": "zzqqxxnotaword"}).json()
    assert nothing["data"] == [] and nothing["total"] == 0
    sales = [r for r in records if r["source"] == "sales"]
    by_word = api.get("/data", params={"search": "cust", "source": "sales", "limit": 5})
    assert by_word.status_code == 200
    both = api.get("/data", params={"search": sales[0]["name"], "source": "sales", "limit": 1000})
    assert {r["source"] for r in both.json()["data"]} == {"sales"}
    assert sales[0] in both.json()["data"]


# -- users, posts -------------------------------------------------------------------------------
def test_users_list_and_lookup_by_email(api: TestClient, served_url: str) -> None:
    users = table_rows(served_url, "users")
    assert walk(api, "/users") == sorted(users, key=key_of("users"))
    target = users[3]
    r = api.get(f"/users/{target['email'].upper()}")
    assert r.status_code == 200 and r.json() == target
    row_model("users").model_validate(r.json())
    assert_error(api.get("/users/nobody@example.invalid"), 404, "not_found")
    hits = api.get("/users", params={"search": target["username"]}).json()["data"]
    assert target in hits


def test_posts_by_author(api: TestClient, served_url: str) -> None:
    posts = table_rows(served_url, "posts")
    mine = [p for p in posts if p["user_id"] == 2]
    assert walk(api, "/posts", user_id=2, limit=3) == sorted(mine, key=key_of("posts"))
    word = posts[0]["title"].split()[0]
    hits = walk(api, "/posts", search=word)
    assert posts[0] in hits
    assert all(word in f"{p['title']} {p['body']}".lower().split() for p in hits)


# -- countries ----------------------------------------------------------------------------------
def test_countries_filters_and_lookup(api: TestClient, served_url: str) -> None:
    countries = table_rows(served_url, "countries")
    europe = sorted((c for c in countries if c["continent_code"] == "EU"), key=key_of("countries"))
    assert walk(api, "/countries", continent="EU") == europe
    assert walk(api, "/countries", continent="europe") == europe
    euro = walk(api, "/countries", currency="eur")
    assert {c["code"] for c in euro} == {
        c["code"] for c in countries if "EUR" in (c["currency"] or "").split(",")
    }
    assert {"FR", "DE"} <= {c["code"] for c in euro}
    for language in ("de", "German"):
        german = walk(api, "/countries", language=language)
        assert {"DE", "AT", "CH"} <= {c["code"] for c in german}
        assert all(any(lang["code"] == "de" for lang in c["languages"]) for c in german), language
    both = walk(api, "/countries", continent="EU", currency="EUR", language="fr")
    assert {c["code"] for c in both} >= {"FR", "BE", "LU"}
    assert all(c["continent_code"] == "EU" for c in both)
    france = api.get("/countries/fr")
    assert france.status_code == 200 and france.json()["name"] == "France"
    assert isinstance(france.json()["languages"], list)
    row_model("countries").model_validate(france.json())
    assert_error(api.get("/countries/ZZ"), 404, "not_found")


# -- sales --------------------------------------------------------------------------------------
def test_sales_orders_ranges(api: TestClient, served_url: str) -> None:
    orders = table_rows(served_url, "sales_orders")
    product, customer = orders[5]["product"], orders[5]["customer_id"]
    cases = [
        ({"date_from": "2024-03-02"}, lambda o: o["order_date"] >= "2024-03-02"),
        ({"date_to": "2024-03-01"}, lambda o: o["order_date"] <= "2024-03-01"),
        ({"product": product}, lambda o: o["product"] == product),
        ({"customer": customer}, lambda o: o["customer_id"] == customer),
        ({"min_quantity": 3, "max_quantity": 5}, lambda o: 3 <= o["quantity"] <= 5),
        ({"min_price": 10, "max_price": 40.5}, lambda o: 10 <= o["price"] <= 40.5),
        (
            {"date_from": "2024-03-02", "date_to": "2024-03-02", "min_price": 100},
            lambda o: o["order_date"] == "2024-03-02" and o["price"] >= 100,
        ),
    ]
    for params, keep in cases:
        expected = sorted(filter(keep, orders), key=key_of("sales_orders"))
        assert expected, params
        assert walk(api, "/sales/orders", limit=200, **params) == expected, params
    assert_error(api.get("/sales/orders", params={"date_from": "yesterday"}), 400)
    assert_error(api.get("/sales/orders", params={"min_price": "cheap"}), 400)


def test_sales_daily_and_rejects(api: TestClient, served_url: str) -> None:
    daily = table_rows(served_url, "sales_daily")
    assert walk(api, "/sales/daily") == sorted(daily, key=key_of("sales_daily"))
    one = walk(api, "/sales/daily", date_from="2024-03-02", date_to="2024-03-02")
    assert [d["day"] for d in one] == ["2024-03-02"]
    rejects = table_rows(served_url, "sales_rejects")
    assert walk(api, "/sales/rejects", limit=7) == sorted(rejects, key=key_of("sales_rejects"))
    dated = walk(api, "/sales/rejects", reason__contains="order_date")
    assert dated and len(dated) == sum("order_date" in r["reason"] for r in rejects)


# -- /tables ------------------------------------------------------------------------------------
def test_tables_lists_counts_and_last_writes(api: TestClient, served_url: str) -> None:
    wh = open_warehouse(served_url)
    ledger = wh.query("SELECT asset, MAX(written_at) FROM partition_ledger GROUP BY asset")
    last = {a: str(w) for a, w in ledger}
    listed = {t["name"]: t for t in api.get("/tables").json()["data"]}
    for name in ("users", "posts", "countries", "sales_orders", "sales_daily", "records"):
        assert listed[name]["rows"] == wh.count(CONTRACTS[name]), name
        assert listed[name]["last_write"][:19].replace("T", " ") == last[name][:19], name
        assert [c["name"] for c in listed[name]["columns"]] == CONTRACTS[name].column_names
    assert_error(api.get("/tables/no_such_table"), 404, "not_found")


OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def test_generic_filters_every_operator(api: TestClient, served_url: str) -> None:
    orders = table_rows(served_url, "sales_orders")
    order = key_of("sales_orders")
    pivot = sorted(orders, key=lambda o: o["price"])[len(orders) // 2]
    checks: list[tuple[dict[str, str], Any]] = []
    for op, fn in OPS.items():
        checks.append(
            ({f"price__{op}": str(pivot["price"])}, lambda o, f=fn: f(o["price"], pivot["price"]))
        )
        checks.append(
            ({f"order_date__{op}": "2024-03-02"}, lambda o, f=fn: f(o["order_date"], "2024-03-02"))
        )
    products = sorted({o["product"] for o in orders})[:3]
    checks += [
        (
            {"product__in": ",".join(p for p in products if "," not in p)},
            lambda o: o["product"] in products and "," not in o["product"],
        ),
        ({"product__contains": "Cable"}, lambda o: "Cable" in o["product"]),
        ({"product": pivot["product"]}, lambda o: o["product"] == pivot["product"]),
        ({"quantity__in": "1,2"}, lambda o: o["quantity"] in (1, 2)),
        ({"order_id__isnull": "true"}, lambda o: False),
        ({"order_id__isnull": "false"}, lambda o: True),
    ]
    for params, keep in checks:
        expected = sorted(filter(keep, orders), key=order)
        got = walk(api, "/tables/sales_orders", limit=500, **params)
        assert got == expected, params
    countries = table_rows(served_url, "countries")
    no_capital = walk(api, "/tables/countries", capital__isnull="true")
    assert {c["code"] for c in no_capital} == {c["code"] for c in countries if c["capital"] is None}
    lang = walk(api, "/tables/countries", languages__contains='"code":"de"')
    lang_pg = walk(api, "/tables/countries", languages__contains='"code": "de"')
    assert {"DE", "AT"} <= {c["code"] for c in lang + lang_pg}


# -- keyset pagination --------------------------------------------------------------------------
@pytest.mark.parametrize("sort", [None, "-price", "product", "-order_date", "customer_id"])
def test_cursor_walk_is_complete_and_ordered(api: TestClient, served_url: str, sort) -> None:
    orders = table_rows(served_url, "sales_orders")
    params = {"limit": 97} | ({"sort": sort} if sort else {})
    got = walk(api, "/sales/orders", **params)
    key = key_of("sales_orders")
    assert len(got) == len(orders) and len({key(r) for r in got}) == len(orders)
    if sort is None:
        assert got == sorted(orders, key=key)
    else:
        col, desc = sort.lstrip("-"), sort.startswith("-")
        expected = sorted(orders, key=lambda r: (r[col], key(r)), reverse=desc)
        assert got == expected


def test_cursor_is_tied_to_its_query(api: TestClient) -> None:
    first = api.get("/sales/orders", params={"limit": 5, "product": "Mug"}).json()
    token = first["next"]
    assert token
    ok = api.get("/sales/orders", params={"limit": 5, "product": "Mug", "cursor": token})
    assert ok.status_code == 200 and ok.json()["data"][0] != first["data"][0]
    assert api.get(first["next_url"]).json() == ok.json()
    other = api.get("/sales/orders", params={"limit": 5, "product": "Stapler", "cursor": token})
    assert_error(other, 400, "invalid_cursor")
    assert_error(api.get("/users", params={"cursor": token}), 400, "invalid_cursor")
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    assert_error(api.get("/sales/orders", params={"cursor": tampered}), 400, "invalid_cursor")
    for junk in ("", "x", "a.b", "..", "eyJ0Ijoi.", "%00", "a" * 5000):
        r = api.get("/sales/orders", params={"cursor": junk})
        assert 400 <= r.status_code < 500, junk
    mixed = api.get("/sales/orders", params={"cursor": token, "page": 2})
    assert_error(mixed, 400, "invalid_parameter")


# -- counts -------------------------------------------------------------------------------------
def test_counts_are_exact_for_tables_and_capped_when_filtered(served_url: str) -> None:
    wh = open_warehouse(served_url)
    total = wh.count(CONTRACTS["records"])
    with client_for(served_url, count_cap=25) as client:
        whole = client.get("/data", params={"page_size": 5}).json()
        assert (whole["total"], whole["total_capped"]) == (total, False)
        sales = client.get("/data", params={"source": "sales", "page_size": 5}).json()
        assert (sales["total"], sales["total_capped"], sales["has_more"]) == (25, True, True)
        few = client.get("/data", params={"source": "users", "page_size": 5}).json()
        assert few["total"] == 10 and few["total_capped"] is False
        cursor = client.get("/sales/orders", params={"limit": 2, "count": "true"}).json()
        assert cursor["total"] == wh.count(CONTRACTS["sales_orders"])
        filtered = client.get("/sales/orders", params={"limit": 2, "count": 1, "product": "Mug"})
        assert filtered.json()["total"] <= 25


# -- HTTP caching -------------------------------------------------------------------------------
def test_etag_answers_304_before_any_query(api: TestClient) -> None:
    db = api.app.state.ctx.db
    for path, params in [
        ("/data", {"page": 2}),
        ("/sales/orders", {"product": "Mug", "limit": 3}),
        ("/users/" + api.get("/users").json()["data"][0]["email"], {}),
        ("/tables", {}),
        ("/tables/sales_daily", {"format": "csv"}),
    ]:
        first = api.get(path, params=params)
        etag = first.headers["etag"]
        assert first.status_code == 200 and "must-revalidate" in first.headers["cache-control"]
        before = sum(db.queries.values())
        again = api.get(path, params=params, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == etag
        assert sum(db.queries.values()) == before, f"{path}: a query ran before the 304"
        assert (
            api.get(path, params=params, headers={"If-None-Match": f'W/{etag}, "x"'}).status_code
            == 304
        )
        assert api.get(path, params=params, headers={"If-None-Match": '"other"'}).status_code == 200
    a = api.get("/data", params={"page": 1}).headers["etag"]
    b = api.get("/data", params={"page": 2}).headers["etag"]
    c = api.get("/data", params={"page": 1, "format": "csv"}).headers["etag"]
    assert len({a, b, c}) == 3
    assert api.get("/health").headers["cache-control"] == "no-store"


# -- CSV ----------------------------------------------------------------------------------------
def test_csv_streams_through_format_or_accept(api: TestClient, served_url: str) -> None:
    orders = table_rows(served_url, "sales_orders")
    for kwargs in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        r = api.get("/sales/orders", **kwargs)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == len(orders)
        assert list(rows[0]) == CONTRACTS["sales_orders"].column_names
        first = sorted(orders, key=key_of("sales_orders"))[0]
        assert rows[0] == {k: str(v) for k, v in first.items()}
    page = api.get("/sales/orders", params={"format": "csv", "limit": 10, "product": "Mug"})
    assert len(list(csv.DictReader(io.StringIO(page.text)))) == 10
    assert 'rel="next"' in page.headers["link"]
    countries = api.get("/countries/fr")
    listing = api.get("/countries", params={"format": "csv", "code": "FR"})
    (row,) = list(csv.DictReader(io.StringIO(listing.text)))
    assert row["name"] == countries.json()["name"] and row["languages"].startswith("[")
    users = api.get("/data", params={"format": "csv", "source": "users"})
    assert len(list(csv.DictReader(io.StringIO(users.text)))) == 10


# -- bad input ----------------------------------------------------------------------------------
INJECTIONS = [
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "1 OR 1=1",
    "%",
    "_",
    "*",
    "') UNION SELECT name FROM sqlite_master --",
    "$$; DROP TABLE users; $$",
    "NEAR(a b)",
    "name:foo OR bar",
    '"unbalanced',
    "- ^ : ( ) { } [ ]",
    "ünïcödé ✓ \U0001d518",
    "a" * 999,
]


def test_injection_strings_are_values_not_sql(api: TestClient, served_url: str) -> None:
    wh = open_warehouse(served_url)
    before = {n: wh.count(CONTRACTS[n]) for n in ("users", "records", "sales_orders")}
    for text in INJECTIONS:
        for path, params, empty in [
            ("/data", {"search": text[:500]}, False),
            ("/users", {"search": text[:500]}, False),
            # `source` takes a listed source only; the column filter takes any text.
            ("/data", {"source__eq": text}, True),
            ("/sales/orders", {"product": text, "customer": text[:64]}, True),
            ("/tables/users", {"name": text}, True),
            ("/tables/users", {"name__contains": text}, True),
            ("/tables/users", {"name__in": text}, True),
            ("/tables/users", {"name__gt": text}, False),
            ("/countries", {"language": text[:64], "currency": text[:16]}, True),
        ]:
            r = api.get(path, params=params)
            if len(text) > 64 and r.status_code == 400:  # longer than the parameter allows
                assert r.json()["error"]["code"] in ("invalid_parameter", "invalid_value")
                continue
            assert r.status_code == 200, (path, params, r.text)
            if empty:
                assert r.json()["data"] == [], (path, params)
        assert_error(api.get("/data", params={"source": text}), 400, "invalid_parameter")
        assert api.get(f"/users/{text}").status_code in (404, 400)
        assert api.get(f"/tables/{text}").status_code in (404, 400)
    for name in ("name;drop", "name__eq;--", "x' OR '1", "name__like", "__eq", "sqlite_master"):
        r = api.get("/tables/users", params={name: "1"})
        assert r.status_code == 400, name
    for sort in ("name; DROP TABLE users", "-1", "name desc", "(select 1)", "languages"):
        r = api.get("/countries", params={"sort": sort})
        assert r.status_code == 400, sort
    assert api.get("/users", params={"name": "a\x00b"}).status_code == 400
    assert api.get("/data", params={"search": "a\x00b"}).status_code == 400
    assert api.get("/users", params={"id": str(2**70)}).status_code == 400
    assert api.get("/users", params={"lat__gt": "nan"}).status_code == 400
    assert api.get("/users", params={"fetched_at__gt": "9999-99-99"}).status_code == 400
    assert {n: wh.count(CONTRACTS[n]) for n in before} == before


def test_every_client_mistake_is_a_4xx_in_the_envelope(api: TestClient) -> None:
    assert_error(api.get("/nowhere"), 404, "not_found")
    assert_error(api.post("/data"), 405, "method_not_allowed")
    assert_error(api.delete("/users/x"), 405)
    assert_error(api.get("/data", params={"colour": "red"}), 400, "unknown_parameter")
    assert_error(api.get("/data", params={"name__regex": "x"}), 400, "invalid_operator")
    assert_error(api.get("/tables/users", params={"id__contains": "1"}), 400, "invalid_operator")
    assert_error(api.get("/tables/users", params={"id": "one"}), 400, "invalid_value")
    assert_error(api.get("/tables/users", params={"id__in": ",".join("1" * 101)}), 400)
    assert_error(api.get("/sales/orders", params={"search": "x"}), 400, "unknown_parameter")
    assert_error(api.get("/tables/sales_orders", params={"search": "x"}), 400)
    assert_error(api.get("/data", params={"page": 1001, "page_size": 10}), 400, "page_too_deep")
    assert_error(api.get("/data", params={"limit": 5000}), 400)
    assert_error(api.get("/data", params={"format": "xml"}), 400)
    assert_error(api.get("/data", params={"count": "maybe"}), 400)
    assert_error(api.get("/data", params={"sort": "nope"}), 400, "invalid_sort")


# -- response models ----------------------------------------------------------------------------
def test_every_answer_validates_against_the_contract_models(api: TestClient) -> None:
    for path, name in [
        ("/data", "records"),
        ("/users", "users"),
        ("/posts", "posts"),
        ("/countries", "countries"),
        ("/sales/orders", "sales_orders"),
        ("/sales/daily", "sales_daily"),
        ("/sales/rejects", "sales_rejects"),
        ("/tables/partition_ledger", "partition_ledger"),
    ]:
        model = row_model(name)
        rows = api.get(path, params={"limit": 1000}).json()["data"]
        assert rows, path
        for row in rows:
            model.model_validate(row)
            assert list(row) == CONTRACTS[name].column_names


def test_every_list_route_answers_its_response_model(api: TestClient) -> None:
    """Each list route's response model is generated from its contract; its answers in both
    pagination modes validate against it: the rows, their types and the envelope."""
    routes = [
        route
        for route in iter_route_contexts(api.app.routes)
        if "GET" in (route.methods or ())
        # A union of the two pagination modes' envelopes.
        and isinstance(getattr(route, "response_model", None), types.UnionType)
    ]
    assert {r.path for r in routes} >= {"/data", "/users", "/sales/orders", "/logs"}
    for route in routes:
        model = TypeAdapter(route.response_model)
        for params in ({"limit": 3, "count": "true"}, {"page": 2, "page_size": 3}):
            r = api.get(route.path, params=params)
            assert r.status_code == 200, (route.path, r.text)
            answer = model.validate_json(r.content)
            name = type(answer).__name__
            assert name.endswith("Page") and ("CursorPage" in name) == ("limit" in params), name
