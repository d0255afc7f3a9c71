"""The write path: `POST /ingest/logs` and `POST /users` on both engines, through the real app."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from core.contracts.datasets import LANDING_LOGS, LANDING_USERS, USERS
from core.warehouse import open_warehouse
from tests.processes import serve_api
from tests.serving_fixtures import client_for

KEY = "test-key-1"
AUTH = {"X-API-Key": KEY}


def record(i: int = 0, **overrides: Any) -> dict[str, Any]:
    base = {
        "timestamp": f"2024-03-01T10:{i % 60:02d}:00Z",
        "service": "checkout",
        "severity": "info",
        "message": f"order {i} placed",
        "attributes": {"order": i},
        "event_id": f"evt-{i}",
    }
    return base | overrides


@pytest.fixture
def client(warehouse_url: str) -> Iterator[TestClient]:
    with client_for(warehouse_url, api_keys=KEY, version_refresh_ms=0) as c:
        yield c


def landed(url: str) -> list[dict[str, Any]]:
    wh = open_warehouse(url)
    if not wh.table_exists(LANDING_LOGS.name):
        return []
    return wh.read(LANDING_LOGS).to_pylist()


# -- POST /ingest/logs ------------------------------------------------------------------------
def test_a_valid_batch_is_stored_whole_with_its_ids(client: TestClient, warehouse_url: str):
    batch = [
        record(0),
        record(1, severity="WARNING", timestamp="2024-03-01T11:30:00"),  # naive means UTC
        record(2, severity="Error", timestamp="2024-03-01T13:00:00+02:00", attributes=None),
    ]
    r = client.post("/ingest/logs", json=batch, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json() == {"count": 3, "ids": [1, 2, 3]}
    rows = landed(warehouse_url)
    assert [row["id"] for row in rows] == [1, 2, 3]
    assert [row["severity"] for row in rows] == ["INFO", "WARN", "ERROR"]
    assert [row["hour"] for row in rows] == [
        "2024-03-01-10:00",
        "2024-03-01-11:00",
        "2024-03-01-11:00",
    ]
    assert rows[2]["timestamp"] == dt.datetime(2024, 3, 1, 11, 0, tzinfo=dt.UTC)
    assert json.loads(rows[0]["attributes"]) == {"order": 0} and rows[2]["attributes"] is None

    again = client.post("/ingest/logs", json=[record(9)], headers=AUTH)
    assert again.json()["ids"] == [4]


def test_both_engines_store_the_same_normalized_values(client: TestClient, warehouse_url: str):
    # SQLite stores rows built in Python; PostgreSQL builds them in SQL from pydantic's JSON.
    batch = [
        record(0, timestamp="2024-03-01T23:30:00.1234567-05:00", severity="warning"),
        record(1, timestamp="2024-03-01 10:00:00", service="  cart \t", severity="CriTical"),
        record(2, message='é ☃ 𝄞 \\u0000 "q" \n', attributes={"f": 1e15, "n": None, "s": "é"}),
        record(3, event_id=None, attributes={}),
    ]
    batch[3].pop("attributes")
    r = client.post("/ingest/logs", json=batch, headers=AUTH)
    assert r.status_code == 201, r.text
    rows = landed(warehouse_url)
    assert [row["timestamp"] for row in rows] == [
        dt.datetime(2024, 3, 2, 4, 30, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 10, 2, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 10, 3, tzinfo=dt.UTC),
    ]
    assert [row["hour"] for row in rows] == [
        "2024-03-02-04:00",
        "2024-03-01-10:00",
        "2024-03-01-10:00",
        "2024-03-01-10:00",
    ]
    assert [(row["service"], row["severity"]) for row in rows] == [
        ("checkout", "WARN"),
        ("cart", "CRITICAL"),
        ("checkout", "INFO"),
        ("checkout", "INFO"),
    ]
    assert rows[2]["message"] == batch[2]["message"]
    assert json.loads(rows[2]["attributes"]) == {"f": 1e15, "n": None, "s": "é"}
    assert rows[3]["attributes"] is None and rows[3]["event_id"] is None


def test_one_bad_record_stores_nothing_and_every_failure_is_listed(
    client: TestClient, warehouse_url: str
):
    batch = [
        record(0),
        record(1, severity="LOUD"),
        record(2, timestamp="2024-02-30T10:00:00Z"),
        record(3, message=""),
        record(4, attributes=[1, 2]),
        {k: v for k, v in record(5).items() if k != "service"},
        record(6, extra="field"),
        record(7, timestamp="2024-03-01"),
    ]
    r = client.post("/ingest/logs", json=batch, headers=AUTH)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_body"
    failed = {(d["index"], d["field"]) for d in error["details"]}
    assert failed == {
        (1, "severity"),
        (2, "timestamp"),
        (3, "message"),
        (4, "attributes"),
        (5, "service"),
        (6, "extra"),
        (7, "timestamp"),
    }
    reasons = {d["index"]: d["reason"] for d in error["details"]}
    assert "DEBUG, INFO, WARN, ERROR, CRITICAL (or WARNING)" in reasons[1]
    assert "ISO 8601" in reasons[7]
    assert landed(warehouse_url) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"timestamp": "2024-03-01T10:00:00Z"}', "JSON array"),
        (b"[]", "empty"),
    ],
)
def test_a_body_that_is_not_a_batch_is_a_422(client: TestClient, body: bytes, reason: str):
    r = client.post(
        "/ingest/logs", content=body, headers=AUTH | {"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert reason in r.json()["error"]["details"][0]["reason"]


def test_limits_at_the_gate(warehouse_url: str):
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with client_for(
        warehouse_url,
        api_keys=KEY,
        ingest_max_records=5,
        ingest_max_bytes=4096,
        log_message_max_chars=20,
        log_attributes_max_bytes=30,
        max_clock_skew_s=60,
    ) as c:
        too_many = c.post("/ingest/logs", json=[record(i) for i in range(6)], headers=AUTH)
        assert too_many.status_code == 413
        assert "at most 5" in too_many.json()["error"]["message"]
        too_big = c.post("/ingest/logs", json=[record(0, message="x" * 5000)], headers=AUTH)
        assert too_big.status_code == 413
        bad = c.post(
            "/ingest/logs",
            json=[
                record(0, message="x" * 21),
                record(1, attributes={"k": "v" * 40}),
                record(2, timestamp=(start + dt.timedelta(hours=2)).isoformat()),
                record(3, timestamp="2023-12-31T23:59:59Z"),
            ],
            headers=AUTH,
        )
        assert bad.status_code == 422
        reasons = {d["index"]: d["reason"] for d in bad.json()["error"]["details"]}
        assert "20 characters" in reasons[0]
        assert "30 bytes" in reasons[1]
        assert "future" in reasons[2]
        assert "before the first log partition" in reasons[3]
        assert c.post("/ingest/logs", json=[record(0)], headers=AUTH).status_code == 201
    assert len(landed(warehouse_url)) == 1


def test_writes_need_a_valid_key(client: TestClient, warehouse_url: str):
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY.upper()}):
        r = client.post("/ingest/logs", json=[record(0)], headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert client.post("/users", json={}, headers=headers).status_code == 401
    assert landed(warehouse_url) == []


def test_a_non_json_body_is_a_415(client: TestClient):
    r = client.post("/ingest/logs", content=b"a,b", headers=AUTH | {"Content-Type": "text/csv"})
    assert r.status_code == 415


def test_idempotent_retries_store_once(client: TestClient, warehouse_url: str):
    batch = [record(i) for i in range(3)]
    headers = AUTH | {"Idempotency-Key": "batch-0001"}
    first = client.post("/ingest/logs", json=batch, headers=headers)
    retry = client.post("/ingest/logs", json=batch, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() == {"count": 3, "ids": [1, 2, 3]}
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(landed(warehouse_url)) == 3

    other_body = client.post("/ingest/logs", json=batch[:1], headers=headers)
    assert other_body.status_code == 409
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    fresh = client.post("/ingest/logs", json=batch, headers=AUTH | {"Idempotency-Key": "b-2"})
    assert fresh.json()["ids"] == [4, 5, 6]
    assert len(landed(warehouse_url)) == 6


def test_twenty_concurrent_posters_store_every_record_exactly_once(
    warehouse_url: str, tmp_path: Any
):
    per_poster, batches = 50, 4
    with serve_api(warehouse_url, tmp_path, api_keys=KEY) as base_url:
        answers: list[dict[str, Any]] = []
        errors: list[str] = []
        lock = threading.Lock()

        def post(poster: int) -> None:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                for b in range(batches):
                    batch = [record(i, event_id=f"p{poster}-b{b}-{i}") for i in range(per_poster)]
                    # Each batch is sent twice under one key: a client retrying a timeout.
                    headers = AUTH | {"Idempotency-Key": f"p{poster}-b{b}"}
                    for _ in range(2):
                        r = http.post("/ingest/logs", json=batch, headers=headers)
                        with lock:
                            if r.status_code == 201:
                                answers.append(r.json())
                            else:
                                errors.append(r.text)

        threads = [threading.Thread(target=post, args=(p,)) for p in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    rows = landed(warehouse_url)
    total = 20 * batches * per_poster
    assert len(rows) == total
    assert sorted(r["id"] for r in rows) == list(range(1, total + 1))
    assert len({r["event_id"] for r in rows}) == total
    # Every answer names ids that hold exactly its batch; a replay names the same ids.
    by_id = {r["id"]: r["event_id"] for r in rows}
    for answer in answers:
        posters = {by_id[i].rsplit("-", 1)[0] for i in answer["ids"]}
        assert len(posters) == 1 and len(answer["ids"]) == per_poster


def test_simultaneous_retries_with_one_key_store_once(warehouse_url: str, tmp_path: Any):
    """Ten copies of one request at the same moment (a client retrying in a hurry): they share
    a group commit or queue behind it, and all get the first answer."""
    batch = [record(i) for i in range(50)]
    with serve_api(warehouse_url, tmp_path, api_keys=KEY) as base_url:
        barrier, answers = threading.Barrier(10), []

        def post() -> None:
            with httpx.Client(base_url=base_url, timeout=30) as http:
                barrier.wait()
                r = http.post(
                    "/ingest/logs", json=batch, headers=AUTH | {"Idempotency-Key": "same"}
                )
                answers.append((r.status_code, r.json()))

        threads = [threading.Thread(target=post) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [status for status, _ in answers] == [201] * 10
    assert all(body == {"count": 50, "ids": list(range(1, 51))} for _, body in answers)
    assert len(landed(warehouse_url)) == 50


# -- POST /users and GET /users/{email} -------------------------------------------------------
def user(**overrides: Any) -> dict[str, Any]:
    return {"name": "Ada Lovelace", "email": "Ada@Example.org", "role": "Analyst"} | overrides


def test_a_pushed_user_is_served_at_once(client: TestClient, warehouse_url: str):
    open_warehouse(warehouse_url).ensure_table(USERS)
    assert client.get("/users/ada@example.org").status_code == 404
    r = client.post("/users", json=user(city="London"), headers=AUTH)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["Location"] == "/users/ada@example.org"
    assert body["email"] == "ada@example.org" and body["username"] == "ada"
    assert body["role"] == "analyst" and body["source"] == "push" and body["id"] == 1
    assert body["uid"] == "push-1"  # a REST API user may have id 1 too; never this uid
    got = client.get("/users/ADA@example.org")
    assert got.status_code == 200
    assert got.json() == body
    assert set(body) == set(USERS.column_names)
    rows = open_warehouse(warehouse_url).read(LANDING_USERS).to_pylist()
    assert [(u["email"], u["city"]) for u in rows] == [("ada@example.org", "London")]


def test_a_duplicate_email_is_a_409(client: TestClient, warehouse_url: str):
    assert client.post("/users", json=user(), headers=AUTH).status_code == 201
    dup = client.post("/users", json=user(name="Other", email="ADA@example.org"), headers=AUTH)
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "duplicate_email"
    assert open_warehouse(warehouse_url).count(LANDING_USERS) == 1


def test_a_user_of_the_rest_api_cannot_be_pushed_again(client: TestClient, warehouse_url: str):
    api_user = dict.fromkeys(USERS.column_names) | {
        "id": 7,
        "uid": "7",
        "name": "Grace Hopper",
        "username": "grace",
        "email": "grace@example.org",
        "source": "api",
        "fetched_at": dt.datetime(2024, 3, 1, tzinfo=dt.UTC),
    }
    table = pa.Table.from_pylist([api_user], USERS.arrow_schema)
    open_warehouse(warehouse_url).upsert(USERS, table)
    r = client.post("/users", json=user(email="GRACE@example.org"), headers=AUTH)
    assert r.status_code == 409
    got = client.get("/users/grace@example.org").json()
    assert (got["source"], got["id"], got["name"]) == ("api", 7, "Grace Hopper")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "not-an-email", "role": "x"}, "email"),
        ({"name": "", "email": "a@b.co", "role": "x"}, "name"),
        ({"name": "A", "email": "a@b.co"}, "role"),
        ({"name": "A", "email": "a@b.co", "role": "x", "admin": True}, "admin"),
        ({"name": "A", "email": "a@b.co", "role": "has space"}, "role"),
    ],
)
def test_an_invalid_user_is_a_422(client: TestClient, body: dict[str, Any], field: str):
    r = client.post("/users", json=body, headers=AUTH)
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == [field]


@pytest.mark.postgres
def test_behind_a_read_replica_pushes_go_to_the_primary_and_are_read_back(
    pg_url: str, postgres_admin: str
):
    """`WAREHOUSE_URL` a replica, `SERVING_WRITE_URL` the primary (two databases here, so the
    replica never catches up): pushes land on the primary, and a pushed user is still served
    at once."""
    from tests.serving_fixtures import postgres_database

    with postgres_database(postgres_admin, "dp_primary") as primary:
        open_warehouse(pg_url).ensure_table(USERS)  # the replica's copy of `users`
        with client_for(pg_url, api_keys=KEY, write_url=primary, version_refresh_ms=0) as c:
            assert c.post("/ingest/logs", json=[record(0)], headers=AUTH).status_code == 201
            assert c.post("/users", json=user(), headers=AUTH).status_code == 201
            got = c.get("/users/ada@example.org")
            assert got.status_code == 200 and got.json()["source"] == "push"
            assert c.get("/users/nobody@example.org").status_code == 404
        assert len(landed(primary)) == 1 and landed(pg_url) == []
        assert open_warehouse(primary).count(LANDING_USERS) == 1
        assert not open_warehouse(pg_url).table_exists(LANDING_USERS.name)
