"""`python -m orchestration.cli demo|run|backfill`: the embedded platform in one command.

`demo` materializes every asset from the sources (the bundled stand-ins unless REST_API_URL /
GRAPHQL_API_URL point elsewhere) into the embedded warehouse and lake, then prints each table's
row count. `run` does the same, then serves the Dagster UI (and the serving API when present)
until Ctrl-C. `backfill --from D1 --to D2` backfills the sales days through the running
webserver, as one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from dagster import DagsterInstance

from orchestration.contracts import CONTRACTS
from orchestration.defs.partitions import CONTINENTS
from orchestration.defs.platform.run_history import record_finished_runs
from orchestration.resources.sources import CsvLandingResource
from orchestration.storage.warehouse import DEFAULT_WAREHOUSE_URL, open_warehouse

ROOT = Path(__file__).resolve().parent.parent
# Ports of the bundled sample sources, the Dagster UI and the serving API.
SAMPLE_PORT = int(os.environ.get("SAMPLE_SOURCES_PORT", "8100"))
UI_PORT = int(os.environ.get("UI_PORT", "3000"))
API_PORT = int(os.environ.get("API_PORT", "8000"))
# The key `make run` gives the API's push endpoints when SERVING_API_KEYS is unset.
DEV_API_KEY = "dev-key"
SAMPLE_DROPS = {"start": date(2024, 3, 1), "days": 5, "rows": 5200}


def _wait_for_http(url: str, timeout_s: float = 20.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s") from None
            time.sleep(0.2)


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A process group of its own: Ctrl-C reaches it through us, and `dagster dev` only
    # honours SIGINT when it was not started with SIGINT ignored.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def sample_sources(procs: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Start the bundled REST/GraphQL stand-ins unless both source URLs are set."""
    if os.environ.get("REST_API_URL") and os.environ.get("GRAPHQL_API_URL"):
        yield
        return
    url = f"http://127.0.0.1:{SAMPLE_PORT}"
    proc = _start(
        [sys.executable, "-m", "sample_sources", "serve", "--port", str(SAMPLE_PORT)],
        dict(os.environ),
    )
    procs.append(proc)
    _wait_for_http(f"{url}/_health")
    os.environ.setdefault("REST_API_URL", url)
    os.environ.setdefault("GRAPHQL_API_URL", f"{url}/graphql")
    rest, graphql = os.environ["REST_API_URL"], os.environ["GRAPHQL_API_URL"]
    print(f"sample sources: REST {rest}, GraphQL {graphql}")
    yield


def ensure_sample_drops() -> None:
    """Write the bundled sales drops when the landing folder has none."""
    landing = os.environ.get("LANDING_DIR", "data/landing")
    if landing.startswith("s3://") or CsvLandingResource(location=landing).drops():
        return
    from sample_sources.sales import write_drops

    files = write_drops(Path(landing), **SAMPLE_DROPS)
    print(f"wrote {len(files)} sample sales drops to {landing}/sales/")


def ensure_dagster_home() -> DagsterInstance:
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(ROOT / "data" / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(ROOT / "deploy" / "embedded" / "dagster.yaml", home / "dagster.yaml")
    return DagsterInstance.get()


def materialize_everything(instance: DagsterInstance) -> None:
    """Run every job once: the REST snapshots, each continent, every landed sales day, records."""
    # Imported here so that the resources see the source URLs set by `sample_sources`.
    from orchestration import definitions

    defs = definitions.defs
    days = list(CsvLandingResource(**_landing_config()).drops())

    def run(job: str, **kwargs: object) -> None:
        result = defs.get_job_def(job).execute_in_process(instance=instance, **kwargs)
        if not result.success:
            raise SystemExit(f"{job} failed; see the run in the Dagster UI")

    def partition_range(first: str, last: str) -> dict[str, str]:
        return {
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        }

    run("rest_api_job")
    run("countries_job", tags=partition_range(CONTINENTS[0], CONTINENTS[-1]))
    if days:
        run("sales_job", tags=partition_range(days[0], days[-1]))
    run("records_job")
    recorded, _ = record_finished_runs(instance, open_warehouse(_warehouse_url()))
    print(f"recorded {recorded} run(s) in pipeline_runs")


def _landing_config() -> dict[str, str]:
    landing = os.environ.get("LANDING_DIR")
    return {"location": landing} if landing else {}


def _warehouse_url() -> str:
    return os.environ.get("WAREHOUSE_URL", DEFAULT_WAREHOUSE_URL)


def print_tables() -> None:
    wh = open_warehouse(_warehouse_url())
    print(f"\n{'table':<16} {'rows':>8}   ({wh.engine})")
    for name, contract in CONTRACTS.items():
        rows = wh.count(contract) if wh.table_exists(name) else 0
        print(f"{name:<16} {rows:>8}")


@contextlib.contextmanager
def embedded_platform() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Sources up, drops landed, every asset materialized; yields the processes started."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with sample_sources(procs):
            ensure_sample_drops()
            materialize_everything(ensure_dagster_home())
            yield procs
    finally:
        _stop(procs)


def demo() -> None:
    with embedded_platform():
        pass
    print_tables()


def run() -> None:
    with embedded_platform() as procs:
        print_tables()
        env = dict(os.environ)
        dagster = str(Path(sys.executable).with_name("dagster"))
        ui = ["dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(UI_PORT)]
        procs.append(_start([dagster, *ui], env))
        print(f"\nDagster UI: http://127.0.0.1:{UI_PORT}")
        if (ROOT / "serving" / "app.py").exists():
            api = ["-m", "serving", "--host", "127.0.0.1", "--port", str(API_PORT)]
            # The push endpoints need a key: a development one unless SERVING_API_KEYS is set.
            api_env = env | {"SERVING_API_KEYS": env.get("SERVING_API_KEYS") or DEV_API_KEY}
            procs.append(_start([sys.executable, *api], api_env))
            print(f"Serving API: http://127.0.0.1:{API_PORT}/docs")
            if not env.get("SERVING_API_KEYS"):
                print(f"Push endpoints: X-API-Key: {DEV_API_KEY} (set SERVING_API_KEYS to change)")
        print("Ctrl-C stops everything.")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
            print("a process exited on its own; stopping the others")
        except KeyboardInterrupt:
            print("\nstopping...")


def backfill(first: str, last: str, url: str) -> None:
    """Backfill the daily sales assets for a date range through a running webserver."""
    from orchestration.backfill import launch_backfill, wait_for_backfill

    backfill_id = launch_backfill(url, first, last)
    print(f"backfill {backfill_id}: {first}...{last} launched; {url}/overview/backfills")
    state = wait_for_backfill(url, backfill_id)
    runs = ", ".join(f"{r['id'][:8]} {r['status']}" for r in state["runs"])
    print(f"backfill {backfill_id}: {state['status']} ({len(state['runs'])} run(s): {runs})")
    if state["status"] not in {"COMPLETED", "COMPLETED_SUCCESS"}:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize everything headless and print the tables")
    sub.add_parser("run", help="materialize everything, then serve the UI until Ctrl-C")
    fill = sub.add_parser("backfill", help="backfill the sales days FROM..TO in one run")
    fill.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
    fill.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD")
    fill.add_argument("--url", default=f"http://127.0.0.1:{UI_PORT}", help="the webserver")
    args = parser.parse_args(argv)
    if args.command == "backfill":
        backfill(args.first, args.last, args.url)
    else:
        {"demo": demo, "run": run}[args.command]()


if __name__ == "__main__":
    main()
