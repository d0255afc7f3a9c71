"""The platform as a user runs it, every part a real process: `dagster dev` (webserver, daemon and
its sensors) on an instance whose daily partitions start years before the data, the serving API
under uvicorn, and headless Chromium on the Dagster UI, reading what a user reads there.

- A bad drop (another day's order ids, half its prices negative) through the drop sensor: its run
  fails naming the day and the checks, and nothing anyone reads changes (the API's answers and
  ETags, the lake), not even after the automation sensor's next tick; the UI shows that day's
  checks Failed with their reason beside the other days Passed; the next good drop publishes.
- A new drop and a user pushed to `POST /users` reach `GET /data` through the sensors and
  declarative automation alone; meanwhile the UI shows each day of the initial range run
  materialized with every check Passed (none Skipped).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.compute as pc
import pytest

from orchestration.defs.sales_csv.cleaning import clean_sales
from sample_sources.sales import drop_path, generate_day, write_drops
from tests.processes import serve_api
from tests.ui_support import DagsterDev, Page, chromium_page, dagster_dev, require_chromium

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED_YAML = ROOT / "deploy" / "embedded" / "dagster.yaml"
KEY = "e2e-key"
ROWS_PER_DAY = 300
# The blocking checks of a sales day (row_count_anomaly only warns).
BLOCKING = ["key_unique", "required_not_null", "value_ranges", "reject_ratio"]
DONE = {"SUCCESS", "FAILURE", "CANCELED"}
# What the runs on the way to `/data` may take beside the sensors' intervals: a drop's run, a
# pushed user's, then `records`, one at a time (the warehouse pool), each queued (the queue is
# read every 5 s), launched as a new process and run: ~10 s each here, more on a loaded CI.
RUNS_ALLOWANCE_S = 60
WIDTH, HEIGHT = 1400, 1100


def data_days(*offsets: int) -> list[str]:
    """Days before today (UTC): the newest partitions, as the sample drops are dated."""
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in offsets]


def platform_env(tmp: Path, sources_url: str) -> dict[str, str]:
    return {
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "WAREHOUSE_URL": f"sqlite:///{tmp / 'warehouse.db'}",
        "LAKE_URL": str(tmp / "lake"),
        "LANDING_DIR": str(tmp / "landing"),
        "REST_API_URL": sources_url,
        "GRAPHQL_API_URL": f"{sources_url}/graphql",
        # Years of never-filled partitions before the data: nothing may wait on them.
        "SALES_START_DATE": "2024-01-01",
        "LOGS_START_DATE": "2024-01-01-00:00",
        # The sensors at a third of their default interval: the same chain, in less time.
        "SENSOR_INTERVAL_S": "10",
    }


def load_a_range(tmp: Path, env: dict[str, str], days: list[str]) -> None:
    """The drops of `days`, then `make demo` on the instance: the REST snapshots, every
    continent, the days as one range run, and `records`."""
    write_drops(tmp / "landing", date.fromisoformat(days[0]), len(days), ROWS_PER_DAY * len(days))
    demo = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "demo"],
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]


def wait_until(what: str, probe: Callable[[], Any], timeout_s: float, dev: DagsterDev) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        assert time.monotonic() < deadline, (
            f"{what}: not within {timeout_s:.0f} s; dagster dev's log ends:\n{dev.log_tail()}"
        )
        time.sleep(0.5)
    return value


# --- The serving API and the lake -------------------------------------------------------------


def served(http: httpx.Client) -> dict[str, list[tuple[int, str | None, str]]]:
    """Every page of the sales and unified endpoints as a reader gets it: status, ETag, body."""
    out: dict[str, list[tuple[int, str | None, str]]] = {}
    for path in ("/sales/orders", "/sales/daily", "/data"):
        pages, params = [], {"limit": 1000}
        while True:
            r = http.get(path, params=params)
            pages.append((r.status_code, r.headers.get("etag"), r.text))
            cursor = r.json().get("next") if r.status_code == 200 else None
            if not cursor:
                break
            params = {"limit": 1000, "cursor": cursor}
        out[path] = pages
    r = http.get("/data")  # the source documents' page mode
    out["/data?page=1"] = [(r.status_code, r.headers.get("etag"), r.text)]
    return out


def rows(pages: list[tuple[int, str | None, str]]) -> list[dict[str, Any]]:
    return [row for status, _, body in pages if status == 200 for row in json.loads(body)["data"]]


def lake_files(lake: Path) -> dict[str, bytes]:
    """The lake's published files. The raw zone is left out: it keeps every payload as
    received, a rejected one too."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and p.relative_to(lake).parts[0] != "raw"
    }


def orders_of(http: httpx.Client, day: str) -> list[dict[str, Any]]:
    r = http.get("/sales/orders", params={"date_from": day, "date_to": day, "limit": 1000})
    assert r.status_code == 200, r.text
    assert r.json()["next"] is None
    return r.json()["data"]


# --- The webserver's GraphQL API ------------------------------------------------------------

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs {
      results {
        runId jobName status creationTime startTime endTime
        assetSelection { path }
        tags { key value }
      }
    }
  }
}
"""
SENSOR = """
query Sensor($sensor: SensorSelector!) {
  sensorOrError(sensorSelector: $sensor) {
    ... on Sensor {
      minIntervalSeconds
      sensorState { ticks(limit: 20) { status timestamp endTimestamp runIds } }
    }
  }
}
"""
STEP_FAILURES = """
query StepFailures($runId: ID!) {
  logsForRun(runId: $runId) {
    ... on EventConnection {
      events { __typename ... on ExecutionStepFailureEvent { stepKey error { message } } }
    }
  }
}
"""


@dataclass(frozen=True)
class Run:
    run_id: str
    job: str
    status: str
    created: float
    started: float | None
    ended: float | None
    assets: tuple[str, ...]
    tags: dict[str, str]


def runs(dev: DagsterDev, **run_filter: Any) -> list[Run]:
    """The instance's runs, newest first."""
    found = dev.graphql(RUNS, filter=run_filter)["runsOrError"]["results"]
    return [
        Run(
            r["runId"],
            r["jobName"],
            r["status"],
            r["creationTime"],
            r["startTime"],
            r["endTime"],
            tuple("/".join(a["path"]) for a in r["assetSelection"] or []),
            {t["key"]: t["value"] for t in r["tags"]},
        )
        for r in found
    ]


def sensor(dev: DagsterDev, name: str) -> dict[str, Any]:
    selector = {
        "repositoryName": "__repository__",
        "repositoryLocationName": "dataplatform",
        "sensorName": name,
    }
    return dev.graphql(SENSOR, sensor=selector)["sensorOrError"]


def step_failures(dev: DagsterDev, run_id: str) -> list[str]:
    events = dev.graphql(STEP_FAILURES, runId=run_id)["logsForRun"]["events"]
    return [
        f"{e['stepKey']}: {e['error']['message']}"
        for e in events
        if e["__typename"] == "ExecutionStepFailureEvent"
    ]


def wait_for_drop_run(dev: DagsterDev, day: str, skip: set[str], timeout_s: float = 180) -> Run:
    """The drop sensor's next finished run of `day` (one not in `skip`)."""

    def finished() -> Run | None:
        found = runs(
            dev, pipelineName="sales_job", tags=[{"key": "dagster/partition", "value": day}]
        )
        for run in found:
            if run.run_id not in skip and run.status in DONE:
                assert run.tags.get("dagster/sensor_name") == "sales_drop_sensor", run
                return run
        return None

    return wait_until(f"the drop sensor's run of {day}", finished, timeout_s, dev)


# --- The Dagster UI, as it reads ------------------------------------------------------------

LINES = """(() => document.body ? document.body.innerText.split('\\n')
  .map((l) => l.trim()).filter(Boolean) : [])()"""
CLICK = """((selector) => {
  const el = document.querySelector(selector);
  if (el) el.click();
  return Boolean(el);
})"""
# The status a partition's panel shows beside its title: a check's, an asset's.
STATUSES = {"Passed", "Failed", "Skipped", "Execution failed", "In progress", "Materialized"}
STATUSES |= {"Materializing", "Missing"}
TABLE_ROWS = """[...document.querySelectorAll('table tbody tr')].map(
  (tr) => [...tr.children].map((td) => td.innerText.trim()))"""


class UI:
    """The asset `sales_orders` in the Dagster UI."""

    def __init__(self, page: Page, url: str, shots: Path) -> None:
        self.page, self.url, self.shots = page, url, shots

    def lines(self) -> list[str]:
        return self.page.evaluate(LINES)

    def wait(self, ready: Callable[[list[str]], Any], what: str, timeout_s: float = 30) -> Any:
        """Until `ready(lines)` holds; its value, or a failure with the page's lines and a
        screenshot."""
        deadline = time.monotonic() + timeout_s
        while True:
            lines = self.lines()
            if value := ready(lines):
                return value
            if time.monotonic() > deadline:
                shot = self.shots / f"ui-{time.time():.0f}.png"
                shot.write_bytes(self.page.screenshot())
                raise AssertionError(f"the UI never showed {what} (see {shot}); it shows:\n{lines}")
            time.sleep(0.25)

    def click(self, selector: str) -> None:
        clicked = self.page.evaluate(f"{CLICK}({json.dumps(selector)})")
        assert clicked, f"nothing to click at {selector}; the page shows:\n{self.lines()}"

    def open(self, view: str, loaded: str) -> None:
        self.page.send("Page.navigate", url=f"{self.url}/assets/sales_orders?{view}")
        self.wait(lambda lines: any(line.endswith(loaded) for line in lines), f"{loaded!r}")

    def open_check(self, check: str, tab: str) -> None:
        """The check's detail on the asset's Checks tab, on its sub-tab `tab`."""
        self.open(f"view=checks&checkDetail={check}", "Execution history")
        self.click(f'button[role=tab][title="{tab}"]')

    def counts(self) -> dict[str, int]:
        """The status filters of a partitions view: {"Passed": 3, "Missing": 1064, ...}."""

        def counts(lines: list[str]) -> dict[str, int] | None:
            found = {
                m[1]: int(m[2].replace(",", ""))
                for line in lines
                if (m := re.fullmatch(r"(.+) \(([\d,]+)\)", line))
            }
            return found if "Missing" in found else None

        return self.wait(counts, "the status counts")

    def partition(self, day: str, showing: str | None = None) -> list[str]:
        """Select `day` in a partitions list; its panel as it reads, from its title (the day,
        then its status) down, once it shows `showing`."""
        self.click(f'[title="{day}"]')

        def panel(lines: list[str]) -> list[str] | None:
            for i, line in enumerate(lines[:-1]):
                # In the list a day is followed by its own text again or the next day; the
                # panel's title by its status, once loaded.
                if line == day and lines[i + 1] in STATUSES:
                    return lines[i:] if showing is None or showing in lines[i:] else None
            return None

        return self.wait(panel, f"the panel of {day}" + (f" with {showing!r}" if showing else ""))

    def lineage_checks(self) -> str:
        """What the asset's node in the lineage graph says of its checks, e.g. "5 / 5 Passed"."""
        self.open("view=lineage", "Graph depth")

        def node(lines: list[str]) -> str | None:
            for i, line in enumerate(lines[:-4]):
                if line == "sales_orders" and lines[i + 1] == "Latest event":
                    after = lines.index("Asset checks", i) + 1
                    # A dash until the live data arrives.
                    return lines[after] if re.fullmatch(r"\d+ / \d+ .+", lines[after]) else None
            return None

        return self.wait(node, "the checks of the lineage's sales_orders node")

    def history(self, check: str) -> list[tuple[str, str, str]]:
        """The check's execution history: (result, partition, description), newest first."""
        self.open_check(check, "Execution history")
        table = self.wait(lambda _: self.page.evaluate(TABLE_ROWS), f"{check}'s executions")
        return [(row[0], row[3], row[4]) for row in table]


# --- A bad drop -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadDrop:
    shared_keys: int
    rejected: int
    cleaned: int

    def reasons(self) -> dict[str, str]:
        """The description of each failed check, as the run and the UI give it."""
        ratio = self.rejected / (self.cleaned + self.rejected)
        return {
            "key_unique": f"{self.shared_keys} row(s) share their key with another partition",
            "reject_ratio": (
                f"{self.rejected} of {self.cleaned + self.rejected} rows rejected ({ratio:.1%})"
            ),
        }


def write_bad_drop(landing: Path, source_day: str, day: str, published_ids: set[str]) -> BadDrop:
    """Rewrite `day`'s drop as `source_day`'s orders (their ids already published) with every
    other price negative (a value out of range: rejected, far above the 20 % reject ratio)."""
    text = drop_path(landing, date.fromisoformat(source_day)).read_text()
    header, *lines = text.replace(source_day, day).splitlines()
    price_then_day = re.compile(rf",([0-9.]+),{day}$")
    lines = [
        price_then_day.sub(rf",-\1,{day}", line) if i % 2 else line for i, line in enumerate(lines)
    ]
    data = "\n".join([header, *lines]) + "\n"
    drop_path(landing, date.fromisoformat(day)).write_text(data)
    clean = clean_sales(data.encode(), date.fromisoformat(day))
    ids = set(clean.orders["order_id"].to_pylist())
    return BadDrop(len(ids & published_ids), clean.rejects.num_rows, clean.orders.num_rows)


@pytest.fixture
def loaded(tmp_path: Path, sources: Any) -> tuple[list[str], dict[str, str]]:
    """Three days (and the snapshots) loaded as by `make demo` on a new instance: the days,
    and the environment of the processes."""
    require_chromium()
    days = data_days(6, 5, 4)
    env = platform_env(tmp_path, sources.url)
    load_a_range(tmp_path, env, days)
    return days, env


@pytest.mark.slow
def test_a_bad_drop_through_the_daemon_changes_nothing_served_and_the_ui_says_why(
    tmp_path: Path, loaded: tuple[list[str], dict[str, str]]
) -> None:
    started = time.monotonic()
    days, env = loaded
    d1, d2, d3 = days
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    timings: dict[str, float] = {}

    with (
        serve_api(env["WAREHOUSE_URL"], tmp_path, api_keys=KEY, version_refresh_ms=200) as api,
        httpx.Client(base_url=api, timeout=30) as http,
    ):
        before, lake_before = served(http), lake_files(lake)
        assert {status for pages in before.values() for status, _, _ in pages} == {200}
        assert [r["day"] for r in rows(before["/sales/daily"])] == days
        unified = {r["source"] for r in rows(before["/data"])}
        assert unified == {"users", "posts", "countries", "sales", "todos", "comments"}
        exports = {f"csv/sales_orders/order_date={d}/part-0.csv" for d in days}
        assert exports <= set(lake_before)
        published = {path.split("/")[2] for path in lake_before if path.startswith("delta/sales_o")}
        assert {f"order_date={d}" for d in days} < published  # and `_delta_log`
        others = {r["order_id"] for r in rows(before["/sales/orders"]) if r["order_date"] != d2}
        bad = write_bad_drop(landing, d1, d2, others)
        assert bad.shared_keys > 20 and bad.rejected > bad.cleaned / 2, bad

        dev_started = time.time()
        with (
            dagster_dev(ROOT, tmp_path, EMBEDDED_YAML, env) as dev,
            chromium_page(WIDTH, HEIGHT) as page,
        ):
            dev.wait_for_assets({"sales_orders", "records"}, timeout=120)
            failed = wait_for_drop_run(dev, d2, skip=set())
            timings["bad drop's run failed"] = time.monotonic() - started

            # Nothing a reader gets changed: every page, byte for byte, with its ETag.
            assert failed.status == "FAILURE"
            assert served(http) == before
            assert lake_files(lake) == lake_before
            # Why, through the webserver's GraphQL API: the day and each check, with its count.
            reasons = bad.reasons()
            [failure] = step_failures(dev, failed.run_id)
            assert failure.startswith("land_sales_drops: "), failure
            assert (
                f"{d2} not published, failed: key_unique ({reasons['key_unique']}); "
                f"reject_ratio ({reasons['reject_ratio']})\n0 of 1 day(s) published"
            ) in failure

            # The UI: each check's history has the range run's result for every day, then the
            # failed version's with its reason.
            ui = UI(page, dev.url, tmp_path)
            for check in BLOCKING:
                history = ui.history(check)
                latest = ("Failed", d2, reasons[check]) if check in reasons else ("Passed", d2)
                assert history[0][: len(latest)] == latest, (check, history)
                range_run = sorted(h[:2] for h in history[1:])
                assert range_run == [("Passed", d) for d in days], (check, history)
            # Each day's latest result: the bad day Failed with its reason, the others Passed.
            for check, reason in reasons.items():
                ui.open_check(check, "Partitions")
                counts = ui.counts()
                assert (counts["Failed"], counts["Passed"], counts["Skipped"]) == (1, 2, 0), counts
                panel = ui.partition(d2)
                assert panel[1] == "Failed" and reason in panel, panel
                assert ui.partition(d1)[1] == ui.partition(d3)[1] == "Passed"
            # The partitions: the bad day keeps its published version and says its run failed.
            ui.open("view=partitions", "Partitions Selected")
            counts = ui.counts()
            assert (counts["Failed"], counts["Materialized"]) == (1, 2), counts
            panel = ui.partition(d2, showing="dagster/row_count")
            assert panel[1] == "Materialized", panel
            assert f"Run {failed.run_id[:8]} failed, and did not materialize this asset." in panel
            # The rows it reads are the published version's, the ones still served.
            published = sum(r["order_date"] == d2 for r in rows(before["/sales/orders"]))
            assert panel[panel.index("dagster/row_count") + 1] == str(published), panel
            assert ui.partition(d1)[1] == ui.partition(d3)[1] == "Materialized"
            # The lineage counts the latest result of each check: the two that failed on it.
            assert ui.lineage_checks() == "3 / 5 Passed"
            timings["UI read"] = time.monotonic() - started

            # The automation sensor's next tick builds nothing from the rejected version.
            def automation_ticked() -> dict[str, Any] | None:
                ticks = sensor(dev, "automation_sensor")["sensorState"]["ticks"]
                return next(
                    (t for t in ticks if t["timestamp"] > failed.ended and t["endTimestamp"]),
                    None,
                )

            tick = wait_until("an automation tick after the failure", automation_ticked, 90, dev)
            assert tick["runIds"] == [], tick
            assert [r.run_id for r in runs(dev, createdAfter=dev_started)] == [failed.run_id]
            assert served(http) == before
            assert lake_files(lake) == lake_before
            timings["automation ticked"] = time.monotonic() - started

            # The next good drop of the day publishes it.
            good = generate_day(date.fromisoformat(d2), 250, seed=7)
            drop_path(landing, date.fromisoformat(d2)).write_text(good)
            fixed = wait_for_drop_run(dev, d2, skip={failed.run_id})
            assert fixed.status == "SUCCESS", step_failures(dev, fixed.run_id)
            timings["good drop published"] = time.monotonic() - started
            clean = clean_sales(good.encode(), date.fromisoformat(d2)).orders
            ids = sorted(clean["order_id"].to_pylist())
            wait_until(
                "the good drop's orders in GET /sales/orders",
                lambda: sorted(o["order_id"] for o in orders_of(http, d2)) == ids,
                5,  # the API re-reads table versions every 200 ms
                dev,
            )
            daily = {r["day"]: r for r in http.get("/sales/daily").json()["data"]}
            assert daily[d2]["orders"] == clean.num_rows
            assert daily[d2]["units"] == pc.sum(clean["quantity"]).as_py()
            assert [daily[d1], daily[d3]] == [
                r for r in rows(before["/sales/daily"]) if r["day"] != d2
            ]
            assert orders_of(http, d1) + orders_of(http, d3) == [
                r for r in rows(before["/sales/orders"]) if r["order_date"] != d2
            ]
            # And the UI reads each day Passed again: the single day's run hid none of the range's.
            ui.open_check("key_unique", "Partitions")
            ui.wait(lambda lines: "Passed (3)" in lines and "Failed (0)" in lines, "3 days Passed")

            assert dev.stop() == 0, dev.log_tail()
    timings["stopped"] = time.monotonic() - started
    print("bad drop end to end: " + ", ".join(f"{k} at {v:.0f} s" for k, v in timings.items()))


# --- Automation reaches /data -------------------------------------------------------------------

USER = {"name": "Ada Lovelace", "email": "ada@example.org", "role": "analyst"}


def ui_after_the_range(ui: UI, orders: dict[str, int]) -> None:
    """Each day of the range run materialized with its own row count, and each of its blocking
    checks Passed: none Skipped, as when a range recorded one result for all its days."""
    days = list(orders)
    assert ui.lineage_checks() == "5 / 5 Passed"  # once read "0 / 5", every result Skipped
    ui.open("view=partitions", "Partitions Selected")
    for day in days:
        panel = ui.partition(day, showing="dagster/row_count")
        assert panel[1] == "Materialized", day
        # The day's rows, not the range's.
        assert panel[panel.index("dagster/row_count") + 1] == str(orders[day]), panel
    for check in BLOCKING:
        ui.open_check(check, "Partitions")
        counts = ui.counts()
        assert (counts["Failed"], counts["Skipped"], counts["Execution Failed"]) == (0, 0, 0)
        assert counts["Missing"] > 365, counts  # years of never-filled days
        for day in days:
            assert ui.partition(day)[1] == "Passed", (check, day)


@pytest.mark.slow
def test_a_new_drop_and_a_pushed_user_reach_data_by_automation_alone(
    tmp_path: Path, loaded: tuple[list[str], dict[str, str]]
) -> None:
    started = time.monotonic()
    days, env = loaded
    [new_day] = data_days(2)

    with (
        serve_api(env["WAREHOUSE_URL"], tmp_path, api_keys=KEY, version_refresh_ms=200) as api,
        httpx.Client(base_url=api, timeout=30) as http,
        dagster_dev(ROOT, tmp_path, EMBEDDED_YAML, env) as dev,
        chromium_page(WIDTH, HEIGHT) as page,
    ):
        dev.wait_for_assets({"sales_orders", "records"}, timeout=120)
        intervals = {
            name: sensor(dev, name)["minIntervalSeconds"]
            for name in ("sales_drop_sensor", "landing_sensor", "automation_sensor")
        }
        before = {r.run_id for r in runs(dev)}
        assert (
            http.get("/data", params={"source": "users", "search": "Lovelace"}).json()["data"] == []
        )

        orders = {r["day"]: r["orders"] for r in http.get("/sales/daily").json()["data"]}
        assert list(orders) == days

        # What the UI shows of the range run, read before the sensors start a run of the new day:
        # the node then reports the checks of that run in progress, not the range's.
        ui_started = time.monotonic()
        ui_after_the_range(UI(page, dev.url, tmp_path), orders)
        ui_read = time.monotonic() - ui_started

        pushed_at, t0 = time.time(), time.monotonic()
        [drop] = write_drops(tmp_path / "landing", date.fromisoformat(new_day), 1, ROWS_PER_DAY)
        posted = http.post("/users", json=USER, headers={"X-API-Key": KEY})
        assert posted.status_code == 201, posted.text
        uid = posted.json()["uid"]

        order_ids = set(
            clean_sales(drop.read_bytes(), date.fromisoformat(new_day))
            .orders["order_id"]
            .to_pylist()
        )
        prefix = f"ORD-{new_day.replace('-', '')}-"

        def in_data() -> tuple[list[dict], list[dict]] | None:
            users = http.get("/data", params={"source": "users", "source_id": uid}).json()["data"]
            sales = http.get(
                "/data",
                params={"source": "sales", "source_id__contains": prefix, "limit": 1000},
            ).json()["data"]
            return (users, sales) if users and sales else None

        bound = max(intervals["sales_drop_sensor"], intervals["landing_sensor"])
        bound += intervals["automation_sensor"] + RUNS_ALLOWANCE_S
        users, sales = wait_until(
            "the new day and the pushed user in GET /data", in_data, bound, dev
        )
        latency = time.monotonic() - t0

        assert [(u["source_id"], u["name"], u["value"]) for u in users] == [
            (uid, USER["name"], USER["email"])
        ]
        assert {s["source_id"] for s in sales} == order_ids

        # No manual step: every run since is a sensor's, and automation built `records`.
        def finished() -> list[Run] | None:
            new = [r for r in runs(dev) if r.run_id not in before]
            return new if all(r.status in DONE for r in new) else None

        new = wait_until("the runs to finish", finished, 30, dev)
        timeline = [
            f"{r.job}{list(r.assets) if r.job == '__ASSET_JOB' else ''} by "
            f"{r.tags.get('dagster/sensor_name')}: queued {r.created - pushed_at:.0f} s, "
            f"ran {(r.started or 0) - pushed_at:.0f}..{(r.ended or 0) - pushed_at:.0f} s"
            for r in reversed(new)
        ]
        print(f"pushed and dropped; in /data after {latency:.0f} s (UI read in {ui_read:.0f} s):")
        print("\n".join(timeline))
        assert all(r.status == "SUCCESS" for r in new), timeline
        launched = {
            (r.job, r.tags.get("dagster/sensor_name"), r.tags.get("dagster/partition")) for r in new
        }
        sensed = {
            ("sales_job", "sales_drop_sensor", new_day),
            ("push_users_job", "landing_sensor", None),
        }
        # Automation builds `records` (unpartitioned); when its tick sees the new day's run end
        # between two ticks, it may also rebuild that day's lake table or export again (the
        # same rows: a partition's re-run is idempotent), never another day.
        automated = {("__ASSET_JOB", "automation_sensor", p) for p in (None, new_day)}
        assert sensed <= launched <= sensed | automated, timeline
        built = [r for r in new if r.job == "__ASSET_JOB"]
        assert built and all(r.tags.get("dagster/from_automation_condition") for r in built)
        assert "records" in {a for r in built for a in r.assets}, timeline
        assert dev.stop() == 0, dev.log_tail()
    print(f"whole test {time.monotonic() - started:.0f} s")
