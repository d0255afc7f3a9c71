"""The lean path of the list endpoints answers exactly as FastAPI's router does, and SQLite's
reads tried on the event loop stay read-only, time-limited and correct past their budget."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
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
from serving.db import QueryTimeout, open_database
from serving.lean import LeanRoutes, list_route
from serving.listing import compile_rows
from serving.params import LIST

LIST_PATHS = {"/data", "/users", "/posts", "/countries", "/sales/orders", "/sales/daily"}
HEADERS = ("content-type", "etag", "cache-control", "vary", "link", "content-disposition")
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
    """The app as served, and the same app without `LeanRoutes` (every request routed)."""
    lean = create_app(settings_for(url, version_refresh_ms=3_600_000))
    routed = create_app(settings_for(url, version_refresh_ms=3_600_000))
    routed.user_middleware = [m for m in routed.user_middleware if m.cls is not LeanRoutes]
    assert len(routed.user_middleware) == len(lean.user_middleware) - 1
    with (
        TestClient(lean, raise_server_exceptions=False) as a,
        TestClient(routed, raise_server_exceptions=False) as b,
    ):
        yield a, b


def answer(client: TestClient, path: str, params: Any, headers: Any = None) -> tuple[Any, ...]:
    r = client.get(path, params=params, headers=headers)
    return r.status_code, r.content, {h: r.headers.get(h) for h in HEADERS}


def test_the_lean_path_answers_as_the_router_does(served_url: str) -> None:
    with twin_clients(served_url) as (lean, routed):
        assert set(LeanRoutes._collect(lean.app)) >= LIST_PATHS  # type: ignore[arg-type]
        for path, params in REQUESTS:
            got = answer(lean, path, params)
            assert got == answer(routed, path, params), (path, params)
            if got[0] == 200 and got[2]["etag"]:
                cached = {"If-None-Match": got[2]["etag"]}
                assert answer(lean, path, params, cached)[0] == 304
                assert answer(routed, path, params, cached)[0] == 304
        # A next page, by the cursor one path issued, read on both.
        next_url = lean.get("/sales/orders", params={"limit": 4}).json()["next_url"]
        assert answer(lean, next_url, None) == answer(routed, next_url, None)
        # Other methods and a trailing slash go to the router on both.
        for method, path in (("DELETE", "/data"), ("HEAD", "/users"), ("GET", "/data/")):
            a = lean.request(method, path, follow_redirects=False)
            b = routed.request(method, path, follow_redirects=False)
            assert a.status_code == b.status_code != 200 and a.content == b.content, path
        # Metrics name the route template either way.
        text = lean.get("/metrics").text
        assert 'route="/sales/orders",status="200"' in text


def test_routes_with_dependencies_stay_with_the_router() -> None:
    async def guard() -> None:
        return None

    guarded, plain = APIRouter(dependencies=[Depends(guard)]), APIRouter()
    for router, path in ((guarded, "/guarded"), (plain, "/plain")):
        list_route(router, path, CONTRACTS["users"], LIST, summary=path)(lambda q, ctx: [])
    app = FastAPI()
    app.include_router(guarded)
    app.include_router(plain)
    assert set(LeanRoutes._collect(app)) == {"/plain"}


def test_compiled_rows_apply_converters_and_keep_any_name() -> None:
    names = ["id", "it's", 'say "hi"', "back\\slash", "flag"]
    to_dicts = compile_rows(names, [None, str.upper, None, None, lambda v: v and bool(v)])
    rows = [(1, "a", None, "x", 1), (2, "b", "q", "y", None)]
    assert to_dicts(rows) == [
        {"id": 1, "it's": "A", 'say "hi"': None, "back\\slash": "x", "flag": True},
        {"id": 2, "it's": "B", 'say "hi"': "q", "back\\slash": "y", "flag": None},
    ]
    assert to_dicts([]) == []


@pytest.mark.parametrize("bounded", [True, False], ids=["bounded", "other"])
def test_sqlite_reads_tried_inline_stay_read_only_limited_and_complete(
    tmp_path: Path, bounded: bool
) -> None:
    """Every statement but a search is tried on the loop's connection first (a bounded one
    under a larger budget); past its budget it still completes, under the full limit."""
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
            page = await db.fetch(
                "SELECT source_id FROM records ORDER BY source_id", bounded=bounded
            )
            assert [r[0] for r in page] == sorted(r[0] for r in page) and len(page) == 5
            with pytest.raises(Exception, match=r"(?i)read.?only"):
                await db.fetch("DELETE FROM records", bounded=bounded)
            before = db.queries["data"]
            assert (await db.fetch(medium, bounded=bounded))[0][0] == 300000
            assert db.queries["data"] == before + 1  # one statement, wherever it ran
            with pytest.raises(QueryTimeout):
                await db.fetch(endless, bounded=bounded)
            assert (await db.fetch("SELECT COUNT(*) FROM records", bounded=bounded))[0][0] == 5
        finally:
            await db.close()

    asyncio.run(check())
