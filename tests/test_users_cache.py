"""`GET /users/{email}` through its read-through cache: the real Redis at 127.0.0.1:6379, a
private Redis stopped mid-test, and one that was never there."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import redis

from core.contracts.datasets import USERS
from core.warehouse import open_warehouse
from serving.cache import cache_key
from tests.processes import free_port
from tests.serving_fixtures import client_for

KEY = "cache-test-key"
AUTH = {"X-API-Key": KEY}
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def _redis_unreachable(url: str) -> str | None:
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.RedisError as exc:
        return f"Redis at {url} is unreachable: {exc}"
    return None


@pytest.fixture(scope="module")
def shared_redis() -> str:
    reason = _redis_unreachable(SHARED_REDIS)
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: Redis must run)")
        pytest.skip(reason)
    return SHARED_REDIS


def api_user(email: str, name: str) -> pa.Table:
    row = dict.fromkeys(USERS.column_names) | {
        "id": 1,
        "uid": "1",
        "name": name,
        "username": email.split("@")[0],
        "email": email,
        "source": "api",
        "fetched_at": dt.datetime.now(dt.UTC),
    }
    return pa.Table.from_pylist([row], USERS.arrow_schema)


@pytest.fixture
def email() -> str:
    return f"cache-{uuid.uuid4().hex[:12]}@example.org"


def test_a_hit_is_served_from_redis_and_a_new_materialization_invalidates_it(
    tmp_path: Path, shared_redis: str, email: str
):
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    wh = open_warehouse(url)
    wh.upsert(USERS, api_user(email, "First Name"))
    r = redis.Redis.from_url(shared_redis)
    with client_for(url, redis_url=shared_redis, version_refresh_ms=0) as c:
        cache = c.app.state.ctx.cache
        assert cache.name == "redis"
        assert c.get(f"/users/{email}").json()["name"] == "First Name"
        assert r.exists(cache_key(email))
        assert c.get(f"/users/{email}").json()["name"] == "First Name"
        assert (cache.hits, cache.misses) == (1, 1)

        wh.upsert(USERS, api_user(email, "Second Name"))  # a new version of `users`
        assert c.get(f"/users/{email}").json()["name"] == "Second Name"
        assert cache.misses == 2
    r.delete(cache_key(email))


def test_a_post_invalidates_a_cached_miss(tmp_path: Path, shared_redis: str, email: str):
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    open_warehouse(url).ensure_table(USERS)
    r = redis.Redis.from_url(shared_redis)
    with client_for(url, redis_url=shared_redis, api_keys=KEY, version_refresh_ms=0) as c:
        assert c.get(f"/users/{email}").status_code == 404
        assert r.get(cache_key(email)).endswith(b"\n")  # the miss is cached, shared
        assert c.get(f"/users/{email}").status_code == 404
        assert c.app.state.ctx.cache.hits == 1
        user = {"name": "Pushed", "email": email, "role": "analyst"}
        assert c.post("/users", json=user, headers=AUTH).status_code == 201
        assert not r.exists(cache_key(email))
        got = c.get(f"/users/{email}")
        assert got.status_code == 200 and got.json()["source"] == "push"
    r.delete(cache_key(email))


def test_the_in_process_cache_never_caches_a_miss(tmp_path: Path, email: str):
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    open_warehouse(url).upsert(USERS, api_user(email, "Someone"))
    with client_for(url, version_refresh_ms=0) as c:
        cache = c.app.state.ctx.cache
        assert cache.name == "memory"
        for _ in range(3):
            assert c.get(f"/users/{email}").status_code == 200
            assert c.get("/users/nobody@example.org").status_code == 404
        assert cache.hits == 2  # the user, twice; the misses went to the warehouse each time


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[Any]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI=true)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while _redis_unreachable(url):
        assert time.monotonic() < deadline, "the private Redis did not start"
        time.sleep(0.05)
    try:
        yield url, proc
    finally:
        proc.kill()
        proc.wait()


def test_redis_stopped_or_unreachable_never_fails_a_request(
    tmp_path: Path, private_redis: tuple[str, subprocess.Popen[Any]], email: str
):
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    open_warehouse(url).upsert(USERS, api_user(email, "Resilient"))
    redis_url, proc = private_redis
    with client_for(url, redis_url=redis_url, api_keys=KEY, version_refresh_ms=0) as c:
        cache = c.app.state.ctx.cache
        assert c.get(f"/users/{email}").status_code == 200
        assert c.get(f"/users/{email}").status_code == 200
        assert cache.hits == 1

        proc.kill()  # Redis goes away under a running API
        proc.wait()
        for _ in range(5):
            got = c.get(f"/users/{email}")
            assert got.status_code == 200 and got.json()["name"] == "Resilient"
        user = {"name": "New", "email": f"new-{email}", "role": "analyst"}
        assert c.post("/users", json=user, headers=AUTH).status_code == 201
        assert c.get(f"/users/new-{email}").status_code == 200
        assert cache.errors >= 1

    never = f"redis://127.0.0.1:{free_port()}/0"
    with client_for(url, redis_url=never, version_refresh_ms=0) as c:
        assert c.get(f"/users/{email}").json()["name"] == "Resilient"
        assert c.get("/users/nobody@example.org").status_code == 404
        assert c.app.state.ctx.cache.errors >= 1
