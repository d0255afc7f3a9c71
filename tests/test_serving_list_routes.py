"""The list endpoints are FastAPI routes like any other: Starlette's routing, `root_path` and
exception handlers apply to them, and so do their dependencies. SQLite runs a statement where
what it is says: a short one on the event loop, read-only, time-limited and complete past its
budget; a full-text search in the pool."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

try:  # tests/ as a package or as a plain folder
    from tests.serving_fixtures import (
        served_postgres,
        served_sqlite,
        served_url,
        settings_for,
        write_tie_records,
    )
except ModuleNotFoundError:
    from serving_fixtures import (  # noqa: F401
        served_postgres,
        served_sqlite,
        served_url,
        settings_for,
        write_tie_records,
    )

from core.contracts import CONTRACTS
from serving.app import create_app
from serving.core.errors import ApiError, install_error_handlers
from serving.db import QueryTimeout, open_database
from serving.db.base import Work
from serving.list_endpoints import ListRoutes
from serving.params import LIST
from serving.table_plans import row_builder

LIST_PATHS = {"/data", "/users", "/posts", "/countries", "/sales/orders", "/sales/daily"}
HEADERS = ("content-type", "cache-control", "vary", "link", "content-disposition")
PREFIX = "/api"
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("/users", {}),
    ("/users", {"limit": 3, "sort": "-name"}),
    ("/users", {"search": "Leanne", "count": "true"}),
    ("/users", {"id__in": "1,2,3", "limit": 2}),
    ("/posts", {"user_id": 1, "limit": 4}),
    ("/countries", {"continent": "EU", "limit": 5}),
    ("/countries", {"continent": "Europe", "currency": "EUR", "language": "de"}),
    ("/countries", {"format": "csv", "limit": 3}),
    ("/countries", {"format": "csv"}),
    ("/sales/orders", {"limit": 7, "date_from": "2024-03-02", "min_quantity": 3}),
    ("/sales/orders", {"limit": 5, "sort": "-price", "count": "true"}),
    ("/sales/daily", {}),
    ("/sales/rejects", {"reason__contains": "order_date"}),
    ("/data", {}),
    ("/data", {"page": 2, "page_size": 5}),
    ("/data", {"limit": 5, "source": "users"}),
    # Errors: the same envelope and status either way.
    ("/users", {"limit": 0}),
    ("/users", {"limit": 2, "page": 1}),
    ("/users", {"bogus__op": 1}),
    ("/users", {"cursor": "not.a-cursor"}),
    ("/sales/orders", {"date_from": "2024-02-30"}),
    ("/data", {"page_size": 101}),
]


@contextmanager
def twin_clients(url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """The app as served, and the same app behind a proxy that mounts it at `PREFIX`."""
    settings = settings_for(url, version_refresh_ms=3_600_000)
    with (
        TestClient(create_app(settings), raise_server_exceptions=False) as a,
        TestClient(create_app(settings), raise_server_exceptions=False, root_path=PREFIX) as b,
    ):
        yield a, b


def answer(
    client: TestClient, path: str, params: Any, headers: Any = None, prefix: str = ""
) -> tuple[Any, ...]:
    """Status, body and headers of `GET prefix + path`: its links without `prefix`, and its
    cursors (signed with the path they page) as whether there is one."""
    r = client.get(prefix + path, params=params, headers=headers)
    found = {h: r.headers.get(h) for h in HEADERS}
    body: Any = r.content
    if r.headers.get("content-type") == "application/json":
        body = r.json()
        if body.get("next"):
            body["next"] = True
            body["next_url"] = body["next_url"].removeprefix(prefix).split("cursor=")[0]
    if found["link"]:
        found["link"] = found["link"].replace(f"<{prefix}/", "</").split("cursor=")[0]
    return r.status_code, body, found


def test_list_endpoints_answer_alike_at_the_root_and_behind_a_proxy(served_url: str) -> None:
    with twin_clients(served_url) as (root, proxied):
        assert {route.path for route in iter_route_contexts(root.app.routes)} >= LIST_PATHS
        for path, params in REQUESTS:
            got = answer(root, path, params)
            assert got == answer(proxied, path, params, prefix=PREFIX), (path, params)
            etag = root.get(path, params=params).headers.get("etag")
            if got[0] == 200 and etag:
                cached = {"If-None-Match": etag}
                assert answer(root, path, params, cached)[0] == 304
                proxied_etag = {
                    "If-None-Match": proxied.get(PREFIX + path, params=params).headers["etag"]
                }
                assert answer(proxied, path, params, proxied_etag, PREFIX)[0] == 304
        # A next page, by the cursor each issued; behind the proxy, its link has the prefix.
        next_url = root.get("/sales/orders", params={"limit": 4}).json()["next_url"]
        proxied_next = proxied.get(f"{PREFIX}/sales/orders", params={"limit": 4}).json()
        assert proxied_next["next_url"].startswith(f"{PREFIX}/sales/orders?")
        page = proxied.get(proxied_next["next_url"])
        assert page.status_code == 200 and page.json()["data"] == root.get(next_url).json()["data"]
        # Other methods and a trailing slash: the router's answers, the same on both.
        for method, path in (("DELETE", "/data"), ("HEAD", "/users"), ("GET", "/data/")):
            a = root.request(method, path, follow_redirects=False)
            b = proxied.request(method, PREFIX + path, follow_redirects=False)
            assert a.status_code == b.status_code != 200 and a.content == b.content, path
        # Metrics name the route template either way.
        text = root.get("/metrics").text
        assert 'route="/sales/orders",status="200"' in text


def test_dependencies_of_a_list_route_run_as_on_any_route() -> None:
    calls: list[str] = []

    async def guard() -> None:
        calls.append("guard")
        raise ApiError(403, "forbidden", "the guard said no")

    lists = ListRoutes()
    lists.route("/guarded", CONTRACTS["users"], LIST, summary="guarded")(lambda q, ctx: [])
    app = FastAPI(dependencies=[Depends(guard)])
    install_error_handlers(app)
    lists.add_to(app)
    with TestClient(app) as client:
        r = client.get("/guarded", params={"limit": 1})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert calls == ["guard"]
    assert "/guarded" in client.app.openapi()["paths"]  # type: ignore[attr-defined]


def test_row_builder_applies_converters_and_keeps_any_name() -> None:
    names = ["id", "it's", 'say "hi"', "back\\slash", "flag"]
    to_dicts = row_builder(names, [None, str.upper, None, None, lambda v: v and bool(v)])
    rows = [(1, "a", None, "x", 1), (2, "b", "q", "y", None)]
    assert to_dicts(rows) == [
        {"id": 1, "it's": "A", 'say "hi"': None, "back\\slash": "x", "flag": True},
        {"id": 2, "it's": "B", 'say "hi"': "q", "back\\slash": "y", "flag": None},
    ]
    assert to_dicts([]) == []


@pytest.mark.parametrize("work", [Work.RANGE, Work.SCAN, Work.SEARCH], ids=lambda w: w.value)
def test_sqlite_reads_run_where_their_work_says_read_only_limited_and_complete(
    tmp_path: Path, work: Work
) -> None:
    """Every statement but a search is tried on the loop's connection first (a range of an
    index under a larger budget); past its budget it still completes, under the full limit. A
    search runs in the pool: the loop's thread opens no connection for it."""
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_tie_records(url, n=5)
    # Slower than the inline budget, well within the time limit.
    medium = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
        "SELECT COUNT(*) FROM c"
    )
    endless = medium.replace("300000", "1000000000")

    async def check() -> None:
        db = open_database(settings_for(url, query_timeout_ms=1500))
        await db.open()
        try:
            page = await db.fetch("SELECT source_id FROM records ORDER BY source_id", work=work)
            assert [r[0] for r in page] == sorted(r[0] for r in page) and len(page) == 5
            on_loop = getattr(db._local, "conn", None) is not None  # type: ignore[attr-defined]
            assert on_loop is (work is not Work.SEARCH)
            with pytest.raises(Exception, match=r"(?i)read.?only"):
                await db.fetch("DELETE FROM records", work=work)
            before = db.queries["data"]
            assert (await db.fetch(medium, work=work))[0][0] == 300000
            assert db.queries["data"] == before + 1  # one statement, wherever it ran
            with pytest.raises(QueryTimeout):
                await db.fetch(endless, work=work)
            assert (await db.fetch("SELECT COUNT(*) FROM records", work=work))[0][0] == 5
        finally:
            await db.close()

    asyncio.run(check())
