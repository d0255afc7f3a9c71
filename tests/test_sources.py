"""Source clients against the sample sources over loopback, faults switched on."""

import logging
import time

import httpx
import pytest

from orchestration.resources.http import HttpClient, RateLimiter, SourceError, retry_after_seconds
from orchestration.resources.sources import CsvLandingResource, GraphQLResource, RestApiResource
from sample_sources import rest
from sample_sources.sales import write_drops

FAST = {"max_retries": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05}


def faults(server, **switches) -> None:
    httpx.put(f"{server.url}/_faults", json=switches).raise_for_status()


def fault_stats(server) -> dict:
    return httpx.get(f"{server.url}/_faults").json()["stats"]


def test_rest_pages_through_every_record(sources):
    api = RestApiResource(base_url=sources.url, page_size=7, **FAST)
    posts = api.fetch_all("/posts")
    assert posts == rest.POSTS
    # 100 posts in pages of 7: 15 pages, the last one short.
    assert fault_stats(sources)["requests"] == 15


def test_retries_ride_out_a_burst_of_5xx(sources):
    faults(sources, error_rate=0.3, seed=3)
    api = RestApiResource(
        base_url=sources.url, page_size=10, max_retries=8, backoff_base_s=0.001, backoff_max_s=0.01
    )
    assert api.fetch_all("/users") == rest.USERS
    assert fault_stats(sources)["by_kind"]["error"] > 0


def test_429_waits_as_long_as_retry_after_asks(sources, caplog):
    faults(sources, fail_first=0, rate_limit_rate=1.0, retry_after_s=0.3)
    client = HttpClient("REST API", sources.url, max_retries=1, backoff_base_s=0.0)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(SourceError, match="HTTP 429"):
        client.request_json("GET", "/users")
    assert time.monotonic() - start >= 0.3
    assert "as Retry-After asks" in caplog.text


def test_a_source_that_stays_down_fails_naming_source_and_url(sources):
    faults(sources, down=True)
    api = RestApiResource(base_url=sources.url, **FAST)
    with pytest.raises(SourceError) as err:
        api.fetch_all("/users")
    message = str(err.value)
    assert "REST API" in message and f"{sources.url}/users" in message
    assert "4 attempts" in message and "HTTP 503" in message


def test_unreachable_source_fails_after_retries():
    api = RestApiResource(base_url="http://127.0.0.1:9", **FAST)
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:9/users failed after 4 attempts"):
        api.fetch_all("/users")


def test_malformed_json_is_retried_then_reported(sources):
    faults(sources, malformed_rate=1.0)
    api = RestApiResource(base_url=sources.url, **FAST)
    with pytest.raises(SourceError, match="invalid JSON"):
        api.fetch_all("/users")


def test_client_errors_fail_at_once(sources):
    client = HttpClient("REST API", sources.url, **FAST)
    with pytest.raises(SourceError, match="HTTP 404"):
        client.request_json("GET", "/nowhere")
    assert fault_stats(sources)["requests"] == 1


def test_graphql_filters_by_continent(sources):
    api = GraphQLResource(base_url=sources.graphql_url, **FAST)
    data = api.query(
        "query($c: String!) { countries(filter: {continent: {eq: $c}}) "
        "{ code continent { code } } }",
        {"c": "EU"},
    )
    codes = {c["code"] for c in data["countries"]}
    assert {"DE", "FR", "IT"} <= codes
    assert {c["continent"]["code"] for c in data["countries"]} == {"EU"}


def test_graphql_errors_fail_with_their_message(sources):
    api = GraphQLResource(base_url=sources.graphql_url, **FAST)
    with pytest.raises(SourceError, match="nosuchfield"):
        api.query("{ countries { nosuchfield } }")


def test_rate_limit_spaces_requests():
    limiter = RateLimiter(per_second=50)
    start = time.monotonic()
    for _ in range(6):
        limiter.wait()
    assert time.monotonic() - start >= 5 / 50 * 0.95


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.5", 0.5), (None, None), ("soon", None), ("-3", 0.0)],
)
def test_retry_after_parsing(header, expected):
    assert retry_after_seconds(header) == expected


def test_landing_lists_drops_by_day(tmp_path):
    from datetime import date

    write_drops(tmp_path, date(2024, 3, 1), 3, 300)
    (tmp_path / "sales" / "notes.txt").write_text("not a drop")
    (tmp_path / "sales" / "sales_2024-02-30.csv").write_text("impossible day")
    drops = CsvLandingResource(location=str(tmp_path)).drops()
    assert list(drops) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert all(d.size > 0 and d.mtime_ns > 0 for d in drops.values())
