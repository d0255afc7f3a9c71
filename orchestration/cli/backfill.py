"""`backfill --from D1 --to D2`: the daily sales assets of a date range backfilled through the
running webserver, as one run; what failed, and why, printed."""

from __future__ import annotations

import sys

BACKFILL_USAGE = "usage: make backfill FROM=YYYY-MM-DD TO=YYYY-MM-DD, with make run up"


def backfill(first: str, last: str, url: str) -> None:
    """Backfill the daily sales assets for a date range through a running webserver; print
    what failed and why."""
    import httpx

    from orchestration.backfill import (
        BackfillError,
        days_between,
        launch_backfill,
        run_failures,
        wait_for_backfill,
    )

    try:
        days_between(first, last)
    except ValueError as exc:
        print(f"{exc} ({BACKFILL_USAGE})", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        backfill_id = launch_backfill(url, first, last)
        print(f"backfill {backfill_id}: {first}...{last} launched; {url}/overview/backfills")
        state = wait_for_backfill(url, backfill_id)
        runs = ", ".join(f"{r['id'][:8]} {r['status']}" for r in state["runs"])
        print(f"backfill {backfill_id}: {state['status']} ({len(state['runs'])} run(s): {runs})")
        for r in state["runs"]:
            if r["status"] != "SUCCESS":
                for reason in run_failures(url, r["id"]):
                    print(f"  run {r['id'][:8]} failed: " + reason.replace("\n", "\n    "))
    except httpx.ConnectError:
        print(f"no Dagster webserver answers at {url}: start it with `make run`", file=sys.stderr)
        raise SystemExit(1) from None
    except BackfillError as exc:
        print(f"backfill refused: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if state["status"] not in {"COMPLETED", "COMPLETED_SUCCESS"}:
        raise SystemExit(1)
