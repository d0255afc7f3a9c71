"""A bounded soak: mixed reads and writes against a real `python -m serving` while a sales
backfill rewrites the same SQLite warehouse, then every posted record reconciled with
`landing_logs` and the API's memory compared between the first and the last quarter.

The backfill is Dagster's `sales_job` run in another process as single-run backfills of a
range of days (the run a daemon launches for `make backfill`), one after the other until the
load ends, so a write of the backfill is almost always in flight. SQLite has one writer at a
time: a push waits for the backfill's transaction (up to `SERVING_WRITE_TIMEOUT_MS`). A 503
`warehouse_busy` with `Retry-After` is counted and retried with the same Idempotency-Key (it is
an answer the API documents for exactly this); only a write still refused after its retries is
an error. Any other 5xx, an unexpected 4xx or a transport error is an error.

Bounded by time and by request count: 20 s by default, `RELIABILITY_FULL=1` for 60 s with
larger backfill days (`SOAK_SECONDS` overrides the duration). No assertion on speed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from orchestration.backfill import days_between
from sample_sources.sales import write_drops
from tests.processes import ROOT, serve_api
from tests.serving_fixtures import materialize_all

FULL = os.environ.get("RELIABILITY_FULL") == "1"
SECONDS = float(os.environ.get("SOAK_SECONDS", 60 if FULL else 20))
MAX_REQUESTS = 200_000 if FULL else 60_000
BACKFILL_DAYS = ("2024-03-10", "2024-03-13")
ROWS_PER_DAY = 50_000 if FULL else 20_000
KEY = "soak-key"
BATCH = 25
RSS_GROWTH_LIMIT = 50 * 1024 * 1024

# One single-run backfill of the range after the other, until `stop` exists (or `rounds` ran).
BACKFILL = """
import json, sys, time
from pathlib import Path
from dagster import DagsterInstance
from orchestration.definitions import defs

first, last, stop, rounds = sys.argv[1:5]
job, instance = defs().resolve_job_def("sales_job"), DagsterInstance.ephemeral()
tags = {
    "dagster/asset_partition_range_start": first,
    "dagster/asset_partition_range_end": last,
}
print(json.dumps({"ready": True}), flush=True)
for n in range(int(rounds)):
    if Path(stop).exists():
        break
    started = time.time()
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    line = {"round": n, "started": started, "ended": time.time(), "success": result.success}
    print(json.dumps(line), flush=True)
"""


class Tally:
    """What the load threads saw, under one lock."""

    def __init__(self, deadline: float, max_requests: int) -> None:
        self.deadline, self.max_requests = deadline, max_requests
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.busy_retries = 0
        self.posted: dict[str, dict[str, Any]] = {}  # event id -> record
        self.answered: dict[int, str] = {}  # landing id -> event id
        self.replays = 0
        self.users: list[str] = []

    def more(self) -> bool:
        with self.lock:
            return (
                time.monotonic() < self.deadline
                and sum(self.requests.values()) < self.max_requests
                and len(self.errors) < 50
            )

    def count(self, kind: str, status: int) -> None:
        with self.lock:
            self.requests[kind] += 1
            self.statuses[status] += 1

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what[:300])


def call(
    tally: Tally, kind: str, send: Callable[[], httpx.Response], ok: tuple[int, ...] = (200,)
) -> httpx.Response | None:
    """One request; a write refused as busy is retried (same request) as `Retry-After` asks."""
    for attempt in range(5):
        try:
            response = send()
        except httpx.HTTPError as exc:
            tally.count(kind, 0)
            tally.error(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        tally.count(kind, response.status_code)
        busy = response.status_code == 503 and kind.startswith("POST")
        if busy and attempt < 4 and "retry-after" in response.headers:
            with tally.lock:
                tally.busy_retries += 1
            time.sleep(float(response.headers["retry-after"]))
            continue
        if response.status_code not in ok:
            tally.error(f"{kind}: {response.status_code} {response.text[:200]}")
            return None
        return response
    return None


def reader(base: str, tally: Tally, seed: int, emails: list[str]) -> None:
    """A quarter of the time a walk three cursor pages deep into /sales/orders (which the
    backfill is rewriting), else one of the other reads."""
    rng = random.Random(seed)
    words = ["dolor", "quia", "order", "worker", "sunt", "est"]

    def some_user() -> str:
        with tally.lock:
            return rng.choice(emails + tally.users[-20:])

    reads: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
        "GET /data": lambda: ("/data", {"page": rng.randint(1, 50), "page_size": 10}),
        "GET /posts (search)": lambda: ("/posts", {"search": rng.choice(words)}),
        "GET /users/{email}": lambda: (f"/users/{some_user()}", {}),
        "GET /logs": lambda: ("/logs", {"limit": 50, "search": rng.choice(words)}),
        "GET /sales/daily": lambda: ("/sales/daily", {}),
        "GET /health": lambda: ("/health", {}),
    }
    with httpx.Client(base_url=base, timeout=30) as http:
        while tally.more():
            if rng.random() < 0.25:
                params: dict[str, Any] = {"limit": 100}
                for kind in ("GET /sales/orders", *["GET /sales/orders (cursor)"] * 3):
                    page = call(tally, kind, lambda p=params: http.get("/sales/orders", params=p))
                    if page is None or not page.json()["next"]:
                        break
                    params = {"limit": 100, "cursor": page.json()["next"]}
                continue
            kind = rng.choice(list(reads))
            path, query = reads[kind]()
            call(tally, kind, lambda p=path, q=query: http.get(p, params=q))


def log_batch(rng: random.Random, prefix: str, n: int) -> list[dict[str, Any]]:
    minute = rng.randrange(60 * 24 * 28)
    when = dt.datetime(2024, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)
    return [
        {
            "timestamp": (when + dt.timedelta(seconds=i)).isoformat(),
            "service": rng.choice(["checkout", "search", "billing"]),
            "severity": rng.choice(["INFO", "WARN", "ERROR", "debug"]),
            "message": f"soak event {prefix}-{i} order {rng.randrange(10**6)}",
            "attributes": {"i": i, "batch": prefix},
            "event_id": f"soak-{prefix}-{i}",
        }
        for i in range(n)
    ]


def writer(base: str, tally: Tally, seed: int) -> None:
    """Log batches with Idempotency-Keys: a fifth sent twice in a row, one in twenty sent twice
    at once (a client retrying while its first attempt is still in flight); a user now and
    then, read back at once."""
    rng = random.Random(seed)
    headers = {"X-API-Key": KEY}
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        n = 0
        while tally.more():
            n += 1
            prefix = f"{seed}-{n}"
            if n % 10 == 0:
                email = f"soak-{prefix}@example.org"
                user = {"name": f"Soak {prefix}", "email": email, "role": "analyst"}
                if call(tally, "POST /users", lambda u=user: http.post("/users", json=u), (201,)):
                    with tally.lock:
                        tally.users.append(email)
                    call(
                        tally, "GET /users/{email}", lambda e=email: http.get(f"/users/{e}"), (200,)
                    )
                continue
            batch = log_batch(rng, prefix, BATCH)
            body = json.dumps(batch).encode()
            idem = {
                "Idempotency-Key": f"soak-{prefix}-{uuid.uuid4().hex[:8]}",
                "Content-Type": "application/json",
            }

            def send(body: bytes = body, idem: dict[str, str] = idem) -> httpx.Response:
                return http.post("/ingest/logs", content=body, headers=idem)

            if n % 20 == 7:
                with ThreadPoolExecutor(2) as pool:
                    twins = [
                        pool.submit(call, tally, "POST /ingest/logs (twin)", send, (201,))
                        for _ in range(2)
                    ]
                answers = [twin.result() for twin in twins]
            else:
                answers = [call(tally, "POST /ingest/logs", send, (201,))]
                if rng.random() < 0.2:
                    answers.append(call(tally, "POST /ingest/logs (retry)", send, (201,)))
            stored = [a for a in answers if a is not None]
            if not stored:
                continue
            bodies = {a.content for a in stored}
            if len(bodies) != 1:
                tally.error(f"retries of one Idempotency-Key answered differently: {bodies}")
                continue
            ids = stored[0].json()["ids"]
            with tally.lock:
                tally.replays += sum(a.headers.get("idempotent-replayed") == "true" for a in stored)
                for record, landing_id in zip(batch, ids, strict=True):
                    tally.posted[record["event_id"]] = record
                    tally.answered[landing_id] = record["event_id"]


def api_process(base: str) -> psutil.Process:
    port = base.rsplit(":", 1)[1]
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:  # an earlier test's process, exited and not yet reaped
            continue
        if "serving" in cmdline and port in cmdline:
            return child
    raise AssertionError(f"no API process on port {port}")


@pytest.mark.slow
def test_soak_mixed_load_during_a_backfill(tmp_path: Path, sources: Any) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    materialize_all(tmp_path, url, sources.url)
    days = days_between(*BACKFILL_DAYS)
    write_drops(tmp_path / "landing", dt.date.fromisoformat(days[0]), len(days), ROWS_PER_DAY)
    with closing(sqlite3.connect(tmp_path / "warehouse.db")) as conn:
        emails = [e for (e,) in conn.execute("SELECT email FROM users")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVING_")} | {
        "WAREHOUSE_URL": url,
        "LAKE_URL": str(tmp_path / "lake"),
        "LANDING_DIR": str(tmp_path / "landing"),
    }
    stop = tmp_path / "stop-backfill"
    backfill_log = (tmp_path / "backfill.log").open("w")
    rss: list[int] = []
    # One key sends every request, faster than a key's default rate limit allows: the soak is
    # about what a full load does to the data, the limiter has its own tests (test_security).
    with serve_api(url, tmp_path, api_keys=KEY, rate_limit_per_s=0) as base:
        api = api_process(base)
        backfill = subprocess.Popen(
            [sys.executable, "-c", BACKFILL, *BACKFILL_DAYS, str(stop), "1000"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=backfill_log,
            text=True,
        )
        try:
            assert backfill.stdout is not None
            ready = backfill.stdout.readline()  # Dagster imported: the first round starts now
            assert ready.startswith('{"ready"'), ready + (tmp_path / "backfill.log").read_text()
            started = time.time()
            tally = Tally(time.monotonic() + SECONDS, MAX_REQUESTS)
            threads = [
                threading.Thread(target=reader, args=(base, tally, s, emails)) for s in (1, 2)
            ] + [threading.Thread(target=writer, args=(base, tally, s)) for s in (3, 4)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                rss.append(api.memory_info().rss)
                time.sleep(0.25)
            for t in threads:
                t.join()
            ended = time.time()
            stop.touch()
            out, _ = backfill.communicate(timeout=600)
        finally:
            if backfill.poll() is None:
                backfill.kill()
                backfill.wait()
            backfill_log.close()
        health = httpx.get(f"{base}/health", timeout=30)
    rounds = [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    # -- reconcile: every answered landing id holds its record, every event id once -----------
    with closing(sqlite3.connect(tmp_path / "warehouse.db")) as conn:
        conn.row_factory = sqlite3.Row
        landed = conn.execute(
            "SELECT id, event_id, message, service FROM landing_logs WHERE event_id LIKE 'soak-%'"
        ).fetchall()
        pushed_users = [e for (e,) in conn.execute("SELECT email FROM landing_users")]
        daily = conn.execute("SELECT COUNT(*) FROM sales_daily WHERE day >= ?", (days[0],))
        backfilled_days = daily.fetchone()[0]
    by_event = Counter(row["event_id"] for row in landed)
    by_id = {row["id"]: row for row in landed}
    twice = [e for e, n in by_event.items() if n > 1]
    missing = [
        i for i, e in tally.answered.items() if by_id.get(i, {"event_id": None})["event_id"] != e
    ]
    wrong = [
        i
        for i, e in tally.answered.items()
        if i in by_id and by_id[i]["message"] != tally.posted[e]["message"]
    ]
    quarter = max(len(rss) // 4, 1)
    first_q, last_q = rss[:quarter], rss[-quarter:]
    growth = sum(last_q) / len(last_q) - sum(first_q) / len(first_q)
    total = sum(tally.requests.values())
    mb = 1024 * 1024
    print(
        f"\nsoak {ended - started:.0f} s: {total} requests "
        f"({sum(n for k, n in tally.requests.items() if k.startswith('GET'))} reads, "
        f"{sum(n for k, n in tally.requests.items() if k.startswith('POST'))} writes), "
        f"statuses {dict(sorted(tally.statuses.items()))}, {len(tally.errors)} errors, "
        f"{tally.busy_retries} busy retries\n"
        f"records: {len(tally.posted)} posted and answered, {len(landed)} in landing_logs, "
        f"{len(twice)} event ids twice, {len(missing) + len(wrong)} answered ids not holding "
        f"their record; {tally.replays} idempotent replays; {len(tally.users)} users pushed\n"
        f"backfill: {len(rounds)} single-run backfills of {len(days)} days x {ROWS_PER_DAY} rows, "
        f"{sum(r['success'] for r in rounds)} succeeded\n"
        f"API RSS: first {rss[0] / mb:.1f} MB, last {rss[-1] / mb:.1f} MB, peak "
        f"{max(rss) / mb:.1f} MB; last quarter - first quarter {growth / mb:+.1f} MB "
        f"({len(rss)} samples)\n"
        f"by request: {dict(sorted(tally.requests.items()))}"
    )
    assert tally.errors == [], tally.errors[:10]
    assert total > 0 and tally.posted and tally.users
    assert {s for s in tally.statuses if s >= 500} <= {503}  # only busy writes, all retried
    assert twice == [] and missing == [] and wrong == []
    assert set(by_event) == set(tally.posted)  # nothing stored that was not answered
    assert sorted(pushed_users) == sorted(tally.users)
    assert rounds and all(r["success"] for r in rounds), rounds
    # The backfill ran during the load (not before or after it), and left whole days.
    assert any(r["started"] < ended and r["ended"] > started for r in rounds), rounds
    assert backfilled_days == len(days)
    assert health.status_code == 200
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew {growth / mb:.1f} MB"
