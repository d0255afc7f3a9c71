"""Launch a single-run backfill of the daily sales assets through the webserver's GraphQL API.

`DagsterGraphQLClient` has no backfill call, so this posts the `launchPartitionBackfill`
mutation itself; the daemon then launches the backfill, as one run when every selected asset has
`BackfillPolicy.single_run()`.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import Any

import httpx

# A day's sales assets, as `sales_job` runs them: the drop, the warehouse tables, their lake
# tables and the CSV export.
SALES_ASSETS = [
    "raw_sales",
    "sales_orders",
    "sales_rejects",
    "sales_daily",
    "lake/sales_orders",
    "lake/sales_rejects",
    "lake/sales_daily",
    "sales_orders_export",
]
DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status runs(limit: 100) { id status } }
    ... on PythonError { message }
  }
}
"""

PARTITION_KEYS = """
query Keys($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode { partitionKeys }
  }
}
"""

FAILURES = """
query Failures($id: ID!) {
  logsForRun(runId: $id) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
      }
    }
  }
}
"""


class BackfillError(RuntimeError):
    """The webserver refused or failed the backfill."""


def parse_day(value: str) -> date:
    """A YYYY-MM-DD day; `ValueError` says what was wrong."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a day: expected YYYY-MM-DD, e.g. 2024-03-01") from None


def days_between(first: str, last: str) -> list[str]:
    start, end = parse_day(first), parse_day(last)
    if end < start:
        raise ValueError(f"TO ({last}) is before FROM ({first})")
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"{url.rstrip('/')}/graphql", json={"query": query, "variables": variables}
    )
    if response.status_code != 200:
        raise BackfillError(f"the webserver answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    if body.get("errors"):
        raise BackfillError("; ".join(e["message"] for e in body["errors"]))
    return body["data"]


def existing_days(url: str, days: list[str], asset: str = SALES_ASSETS[0]) -> list[str]:
    """`days`, once every one of them is a partition of the running definitions' `asset`
    (Dagster would otherwise backfill only those that are, and say nothing of the others)."""
    node = _graphql(url, PARTITION_KEYS, {"path": asset.split("/")})["assetNodeOrError"]
    keys = node.get("partitionKeys") or []
    missing = [d for d in days if d not in set(keys)]
    if missing:
        span = f"{keys[0]} to {keys[-1]}" if keys else "none yet"
        raise BackfillError(f"no partition for {', '.join(missing)}: the days are {span}")
    return days


def launch_backfill(url: str, first: str, last: str, assets: list[str] = SALES_ASSETS) -> str:
    """Launch a backfill of `assets` for every day from `first` to `last`; returns its id."""
    params = {
        "partitionNames": existing_days(url, days_between(first, last)),
        "assetSelection": [{"path": a.split("/")} for a in assets],
        "title": f"sales {first}...{last}",
    }
    result = _graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"{result['__typename']}: {result.get('message', '')}")
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, timeout_s: float = 600) -> dict[str, Any]:
    """Poll until the backfill is done; returns its status and runs."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = _graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if state["__typename"] != "PartitionBackfill":
            raise BackfillError(state.get("message", state["__typename"]))
        runs_done = all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in state["runs"])
        if state["status"] in DONE and runs_done:
            return state
        if time.monotonic() > deadline:
            raise BackfillError(
                f"backfill {backfill_id} still {state['status']} after {timeout_s}s"
            )
        time.sleep(1)


def run_failures(url: str, run_id: str) -> list[str]:
    """Why a run failed: each failed step's error, first line of each, else the run's own."""
    logs = _graphql(url, FAILURES, {"id": run_id})["logsForRun"]
    events = logs.get("events", []) if logs["__typename"] == "EventConnection" else []
    steps = [
        f"{e['stepKey']}: {e['error']['message'].strip()}"
        for e in events
        if e["__typename"] == "ExecutionStepFailureEvent" and e.get("error")
    ]
    return steps or [e["message"] for e in events if e["__typename"] == "RunFailureEvent"]
