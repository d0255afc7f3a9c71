"""Security: keys on reads when configured, a rate limit per key, and secrets that never reach
the logs, the error messages or Dagster's event log and metadata."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterInstance, materialize

from orchestration.definitions import defs
from tests.processes import free_port, serve_api
from tests.serving_fixtures import client_for, write_tie_records

all_assets = defs().assets

KEY, OTHER = "reader-key-1", "reader-key-2"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    write_tie_records(url, n=20)
    return url


def test_reads_can_require_a_key(sqlite_url: str):
    with client_for(sqlite_url, api_keys=f"{KEY},{OTHER}", read_requires_key=True) as c:
        for path in ("/data", "/tables/records", "/users/x@example.org", "/logs"):
            r = c.get(path)
            assert r.status_code == 401, path
            assert r.json()["error"]["code"] == "unauthorized"
            assert c.get(path, headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/data", headers={"X-API-Key": KEY}).json()["total"] == 20
        assert c.get("/data", headers={"X-API-Key": OTHER}).status_code == 200
        for probe in ("/ping", "/health", "/metrics", "/openapi.json"):
            assert c.get(probe).status_code == 200, probe
    with client_for(sqlite_url, api_keys=KEY) as c:  # the default: reads are open
        assert c.get("/data").status_code == 200


def test_each_key_has_its_own_rate_limit(sqlite_url: str):
    with client_for(
        sqlite_url, api_keys=f"{KEY},{OTHER}", rate_limit_per_s=0.5, rate_limit_burst=3
    ) as c:
        statuses = [c.get("/data", headers={"X-API-Key": KEY}).status_code for _ in range(5)]
        assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]
        limited = c.get("/data", headers={"X-API-Key": KEY})
        assert limited.json()["error"]["code"] == "too_many_requests"
        assert int(limited.headers["Retry-After"]) >= 1
        # Another key has its own bucket; anonymous reads are not keyed.
        assert c.get("/data", headers={"X-API-Key": OTHER}).status_code == 200
        assert c.get("/data").status_code == 200
        # Writes count against the same key.
        post = c.post("/ingest/logs", json=[], headers={"X-API-Key": KEY})
        assert post.status_code == 429


def test_secrets_never_reach_the_api_logs_or_answers(tmp_path: Path, postgres_admin: str) -> None:
    import psycopg

    password = f"pw-{uuid.uuid4().hex}"
    key = f"key-{uuid.uuid4().hex}"
    wrong = f"wrong-{uuid.uuid4().hex}"
    name = f"dp_sec_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    host = postgres_admin.split("@", 1)[1].rsplit("/", 1)[0]
    user = postgres_admin.split("://", 1)[1].split("@", 1)[0].split(":", 1)[0]
    # Trust auth here: the password is carried everywhere, checked nowhere.
    url = f"postgresql://{user}:{password}@{host}/{name}"
    answers: list[str] = []
    try:
        with (
            serve_api(url, tmp_path, api_keys=key, access_log="true") as base,
            httpx.Client(base_url=base, timeout=10) as http,
        ):
            record = {
                "timestamp": "2024-03-01T10:00:00Z",
                "service": "svc",
                "severity": "INFO",
                "message": "hello",
            }
            for headers, body in (
                ({"X-API-Key": key}, [record]),
                ({"X-API-Key": key, "Idempotency-Key": "i-1"}, [record]),
                ({"X-API-Key": wrong}, [record]),
                ({"X-API-Key": key}, [record | {"severity": "LOUD"}]),
            ):
                r = http.post("/ingest/logs", json=body, headers=headers)
                answers.append(r.text)
            for path in ("/health", "/stats", "/logs", "/tables", "/users/nobody@x.org"):
                answers.append(http.get(path, headers={"X-API-Key": key}).text)
        log = (tmp_path / "serving.log").read_text()
        # The same secrets on a warehouse that is down: the 503 path and its warnings.
        (tmp_path / "down").mkdir()
        down = f"postgresql://{user}:{password}@127.0.0.1:{free_port()}/{name}"
        with serve_api(down, tmp_path / "down", api_keys=key, access_log="true") as base:
            health = httpx.get(f"{base}/health", timeout=30)
            assert health.status_code == 503
            answers.append(health.text)
        log += (tmp_path / "down" / "serving.log").read_text()
    finally:
        with psycopg.connect(postgres_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert '"path":"/ingest/logs"' in log  # the access log was on and captured
    assert "warehouse" in log and '"status":503' in log
    for secret in (password, key, wrong):
        assert secret not in log
        assert not any(secret in a for a in answers)


def test_secrets_never_reach_dagster_events_or_metadata(
    sources: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestration.resources import resources_from_env

    token = f"token-{uuid.uuid4().hex}"
    monkeypatch.setenv("REST_API_TOKEN", token)
    monkeypatch.setenv("REST_API_URL", sources.url)
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'wh.db'}")
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    instance = DagsterInstance.ephemeral()
    result = materialize(
        all_assets,
        selection=["raw_users", "users"],
        resources=resources_from_env(),
        instance=instance,
    )
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    events = instance.all_logs(result.run_id)
    text = repr(run.run_config) + "".join(repr(e) for e in events)
    assert "raw_users" in text and len(events) > 10  # the log holds what the run did
    assert token not in text
