"""The backfill benchmark's `daemon` variant: both kinds of backfill as the embedded platform
runs them, `dagster dev` driven over the webserver's GraphQL API (see `child_daemon`)."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from common import current_rss_mb, delete_sales_days, free_port, start_process, stop_process

from orchestration.run_tags import range_tags

# How long the submitted runs may take, in all.
RUNS_TIMEOUT_S = 3600

REPOSITORY = {"repositoryName": "__repository__", "repositoryLocationName": "dataplatform"}
SENSORS = """
query Sensors($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) {
    __typename
    ... on Sensors { results { name sensorState { id status } } }
  }
}
"""
STOP_SENSOR = """
mutation Stop($id: String!) { stopSensor(id: $id) { __typename } }
"""
RUNS = """
query Runs($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) {
    ... on Runs { results { runId status startTime endTime } }
  }
}
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def child_daemon(spec: dict[str, Any]) -> dict[str, Any]:
    """Both kinds of backfill as the embedded platform runs them: `dagster dev` (webserver,
    daemon, code server) on the instance's `dagster.yaml`, its sensors stopped. Runs are
    submitted through the webserver (`launchRun`, as a backfill submits its runs): the queue
    starts at most `max_concurrent_runs` at once, each in a process of its own, with the job's
    executor. First one run over every day (the range tags), timed from its submission to its
    end; then the sampled days, deleted from the warehouse (untimed), one run each
    (`dagster/partition`), all submitted at once. Their cost is extrapolated to every day as the
    wait for the first of them to start plus the span from the first start to the last end
    x days / sample. (A backfill launched from the UI adds the backfill daemon's tick, up to
    30 s or more, to either kind.)"""
    import httpx
    from dagster_graphql import DagsterGraphQLClient

    home = Path(spec["dagster_home"])
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(spec["dagster_yaml"]), home / "dagster.yaml")
    # The landing folder stays empty until the sensors are stopped: the drop sensor's first
    # tick would otherwise queue a run for every day.
    landing = home.parent / "landing_daemon"
    landing.mkdir()
    env = dict(
        os.environ,
        DAGSTER_HOME=str(home),
        WAREHOUSE_URL=spec["url"],
        LAKE_URL=spec["lake"],
        LANDING_DIR=str(landing),
        SALES_START_DATE=spec["days"][0],
        DAGSTER_EVENT_BATCH_SIZE="1000",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dagster = str(Path(sys.executable).with_name("dagster"))
    baseline = current_rss_mb()
    started = time.perf_counter()
    proc = start_process(
        [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env,
        f"{url}/server_info",
    )

    def graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = httpx.post(
            f"{url}/graphql", json={"query": query, "variables": variables}, timeout=120
        ).json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=120)

    def run_all(tags: list[dict[str, str]]) -> tuple[float, list[dict[str, Any]]]:
        """Submit one `sales_job` run per tag set at once; their submission time and records."""
        launched = time.time()
        ids = [
            client.submit_job_execution(
                "sales_job",
                repository_location_name=REPOSITORY["repositoryLocationName"],
                repository_name=REPOSITORY["repositoryName"],
                tags=t,
            )
            for t in tags
        ]
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        while True:
            done = graphql(RUNS, {"ids": ids})["runsOrError"]["results"]
            if all(r["status"] in FINISHED for r in done):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"runs not finished after {RUNS_TIMEOUT_S} s")
            time.sleep(0.5)
        failed = [r for r in done if r["status"] != "SUCCESS"]
        if failed:
            raise RuntimeError(f"runs failed: {failed}")
        return launched, done

    try:
        deadline = time.monotonic() + 600
        while True:  # the code location loads after the webserver answers
            sensors = graphql(SENSORS, {"repo": REPOSITORY})["sensorsOrError"]
            if sensors["__typename"] == "Sensors":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the code location did not load: {sensors}")
            time.sleep(1)
        for sensor in sensors["results"]:
            graphql(STOP_SENSOR, {"id": sensor["sensorState"]["id"]})
        queued = graphql(RUNS, {"ids": None})["runsOrError"]["results"]
        if queued:
            raise RuntimeError(f"runs before the benchmark's own: {queued[:3]}")
        (landing / "sales").symlink_to(Path(spec["landing"]) / "sales")
        startup_s = time.perf_counter() - started
        days, sample = spec["days"], spec["sample"]
        launched, (single,) = run_all([range_tags(days[0], days[-1])])
        delete_sales_days(spec["url"], sample)
        sample_launched, done = run_all([{"dagster/partition": day} for day in sample])
    finally:
        stop_process(proc)
    first_start = min(r["startTime"] for r in done) - sample_launched
    span = max(r["endTime"] for r in done) - min(r["startTime"] for r in done)
    single_s = single["endTime"] - launched
    return {
        "seconds": round(single_s, 3),
        "runs": 1,
        "baseline_rss_mb": round(baseline, 1),
        "startup_s": round(startup_s, 1),
        "single": {
            "seconds": round(single_s, 3),
            "runs": 1,
            "wait_to_start_s": round(single["startTime"] - launched, 3),
            "run_s": round(single["endTime"] - single["startTime"], 3),
        },
        "per_partition": {
            "seconds": round(first_start + span * len(days) / len(sample), 3),
            "runs": len(days),
            "sampled": len(sample),
            "sample_seconds": round(max(r["endTime"] for r in done) - sample_launched, 3),
            "first_start_s": round(first_start, 3),
            "span_s": round(span, 3),
            "mean_run_s": round(statistics.fmean(r["endTime"] - r["startTime"] for r in done), 3),
        },
    }
