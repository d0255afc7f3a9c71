"""What the list endpoints' parameters accept and what they answer when a value is wrong: the
expected format in words and the valid values, in the one error envelope; and one time format
for `since`/`until` of `/logs` and `hour_from`/`hour_to` of `/logs/levels`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from core.contracts.datasets import LOG_LEVELS_HOURLY, LOGS, log_hour
from core.warehouse import open_warehouse
from serving.core.errors import ApiError
from serving.params import TIME_FORMS, TIME_PATTERN
from tests.serving_fixtures import client_for, write_tie_records

RECORD_COLUMNS = "source, source_id, name, value, description, created_at, updated_at"
TIMES = "an ISO 8601 time: 2024-03-01, 2024-03-01T14:05, 2024-03-01T14:05:09, " + (
    "2024-03-01T14:05:09.5Z or 2024-03-01T14:05:09+02:00 (UTC when no offset is given; "
    "the hour key 2024-03-01-14:00 also)"
)
BASE = dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)


def error(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["status"] == 400
    return body["error"]


@pytest.fixture
def client(warehouse_url: str) -> Any:
    write_tie_records(warehouse_url, n=5)
    write_logs(warehouse_url)
    with client_for(warehouse_url) as c:
        yield c


def write_logs(url: str) -> None:
    """One record every 20 minutes from 10:00 to 12:40 UTC, and their hourly counts."""
    stamps = [BASE + dt.timedelta(minutes=20 * i) for i in range(9)]
    rows = [
        {
            "event_id": f"e{i}",
            "hour": log_hour(t),
            "timestamp": t,
            "service": "checkout",
            "severity": "INFO",
            "message": f"event {i}",
            "attributes": None,
            "landing_id": i + 1,
            "received_at": t,
        }
        for i, t in enumerate(stamps)
    ]
    counts = [
        {"hour": h, "service": "checkout", "severity": "INFO", "count": 3}
        for h in sorted({r["hour"] for r in rows})
    ]
    wh = open_warehouse(url)
    wh.upsert(LOGS, pa.Table.from_pylist(rows, LOGS.arrow_schema))
    wh.upsert(LOG_LEVELS_HOURLY, pa.Table.from_pylist(counts, LOG_LEVELS_HOURLY.arrow_schema))


def test_errors_say_the_expected_format_and_list_the_valid_values(client: TestClient) -> None:
    sort = f"sort must be one of: {RECORD_COLUMNS} (-column sorts descending)"
    nope = error(client, "/data", sort="nope")
    assert nope["code"] == "invalid_sort"
    assert nope["message"] == f"{sort}; got 'nope'"
    assert nope["details"] == {"sortable": RECORD_COLUMNS.split(", ")}
    malformed = error(client, "/data", sort="name; DROP TABLE x")
    assert malformed["code"] == "invalid_parameter"
    assert malformed["message"] == f"{sort}; got 'name; DROP TABLE x'"
    assert malformed["details"][0]["valid"] == RECORD_COLUMNS.split(", ")
    assert error(client, "/tables/records", sort="-zzz")["message"] == f"{sort}; got '-zzz'"
    assert error(client, "/users", sort="x")["message"].startswith(
        "sort must be one of: id, uid, name, username, email, phone, website, "
    )
    # JSON columns cannot be sorted on, so they are not offered.
    json_sort = error(client, "/countries", sort="languages")["message"]
    assert "languages" not in json_sort.split("; got ")[0]

    fmt = error(client, "/data", format="xml")
    assert fmt["message"] == "format must be one of: json, csv; got 'xml'"
    assert fmt["details"] == [
        {"in": "query", "name": "format", "message": "one of: json, csv", "valid": ["json", "csv"]}
    ]
    source = error(client, "/data", source="user")
    sources = ["users", "posts", "countries", "sales", "comments", "todos"]
    assert source["message"] == f"source must be one of: {', '.join(sources)}; got 'user'"
    assert source["details"][0]["valid"] == sources
    assert error(client, "/logs/levels", hour_from="14h")["message"] == (
        f"hour_from must be {TIMES}; got '14h'"
    )
    assert error(client, "/logs", since="yesterday")["message"] == (
        f"since must be {TIMES}; got 'yesterday'"
    )
    assert error(client, "/logs", severity="FATAL")["message"] == (
        "severity must be one of: DEBUG, INFO, WARN, ERROR, CRITICAL; got 'FATAL'"
    )
    assert error(client, "/data", page_size="101")["message"] == (
        "page_size must be an integer from 1 to 100; got '101'"
    )
    assert error(client, "/data", count="maybe")["message"] == (
        "count must be true or false (or 1/0, yes/no, on/off); got 'maybe'"
    )
    assert error(client, "/sales/orders", date_from="03/01/2024")["message"] == (
        "date_from must be a date as YYYY-MM-DD, e.g. 2024-03-01; got '03/01/2024'"
    )


def test_since_and_hour_from_take_the_same_time_forms(client: TestClient) -> None:
    def since(value: str) -> list[str]:
        r = client.get("/logs", params={"since": value, "limit": 100, "sort": "timestamp"})
        assert r.status_code == 200, r.text
        return [row["event_id"] for row in r.json()["data"]]

    def hours_from(value: str, param: str = "hour_from") -> list[str]:
        r = client.get("/logs/levels", params={param: value, "limit": 100})
        assert r.status_code == 200, r.text
        return [row["hour"] for row in r.json()["data"]]

    # 11:00 UTC, spelled every way the parameters take.
    eleven = [
        "2024-03-01T11:00",
        "2024-03-01T11:00:00",
        "2024-03-01T11:00:00.0Z",
        "2024-03-01T13:00:00+02:00",
        "2024-03-01T06:00:00-05:00",
        "2024-03-01-11:00",
    ]
    for value in eleven:
        assert since(value) == ["e3", "e4", "e5", "e6", "e7", "e8"], value
        assert hours_from(value) == ["2024-03-01-11:00", "2024-03-01-12:00"], value
        assert hours_from(value, "hour_to") == ["2024-03-01-10:00", "2024-03-01-11:00"], value
    # A `+` left unencoded in a query string arrives as a space.
    assert since("2024-03-01T13:00:00 02:00") == since("2024-03-01T11:00Z")
    assert client.get("/logs?since=2024-03-01T13:00:00+02:00").json()["data"][0]["event_id"]
    # A date is its midnight (UTC); hour_from takes the hour that holds the time.
    assert len(since("2024-03-01")) == 9 and since("2024-03-02") == []
    assert hours_from("2024-03-01T11:59:59Z") == ["2024-03-01-11:00", "2024-03-01-12:00"]
    before = client.get("/logs", params={"until": "2024-03-01T10:40Z", "sort": "timestamp"})
    assert [r["event_id"] for r in before.json()["data"]] == ["e0", "e1"]


def test_the_time_parameters_are_documented_alike(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    params = {
        p["name"]: p
        for path in ("/logs", "/logs/levels")
        for p in spec[path]["get"]["parameters"]
        if p["name"] in ("since", "until", "hour_from", "hour_to")
    }
    assert set(params) == {"since", "until", "hour_from", "hour_to"}
    for p in params.values():
        assert p["schema"] == {"type": "string", "pattern": f"^(?:{TIME_PATTERN})$"}
        assert p["description"].endswith(f": {TIME_FORMS}.")


def test_data_offers_the_sources_records_unifies(tmp_path: Any) -> None:
    from orchestration.defs.records.assets import source_queries
    from serving.routes.data import SOURCES

    wh = open_warehouse(f"sqlite:///{tmp_path / 'w.db'}")
    assert tuple(source_queries(wh.dialect)) == SOURCES


def test_a_query_string_parsed_again_gives_the_same_answer_and_the_same_errors() -> None:
    """The parse of a query string is kept (it depends on nothing else): each caller gets its
    own copy, and a wrong value is a 400 every time, never a kept answer."""
    from starlette.requests import Request

    from serving.params import LIST, Param, QueryModel

    model = QueryModel("Probe", (*LIST, Param("day", "date", "A day.")))

    def parse(query: bytes) -> dict[str, Any]:
        return model.parse(Request({"type": "http", "query_string": query, "headers": []}))

    first = parse(b"limit=5&day=2024-03-01&x__eq=1")
    assert first == {"limit": 5, "day": dt.date(2024, 3, 1)}
    first["limit"] = 99
    assert parse(b"limit=5&day=2024-03-01&x__eq=1") == {"limit": 5, "day": dt.date(2024, 3, 1)}
    long = b"limit=7&pad=" + b"x" * 3000  # past the kept length: parsed each time
    assert parse(long) == {"limit": 7}
    for _ in range(2):
        with pytest.raises(ApiError) as wrong:
            parse(b"day=2024-02-30")
        assert wrong.value.status == 400 and "day must be" in wrong.value.message
