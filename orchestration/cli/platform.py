"""The embedded platform brought up for `run` and `demo`: the sample sources started, the sample
drops landed, DAGSTER_HOME and the partitions' start set, and every asset materialized from the
sources into the warehouse and the lake; and the rows each table then holds."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import IO

from dagster import DagsterInstance

from core.contracts import CONTRACTS
from core.datasets import FEEDS, GRAPHQL_SNAPSHOTS
from core.warehouse import open_warehouse
from orchestration.cli.console import Say
from orchestration.cli.home import ensure_dagster_home, resolve_partitions_start
from orchestration.cli.landing import ensure_sample_drops
from orchestration.cli.processes import Service, start_service, stop_services, wait_for_http
from orchestration.cli.settings import CliSettings
from orchestration.defs.platform.run_history import record_finished_runs
from orchestration.resources import resources_from_env
from orchestration.resources.sources import CsvLandingResource
from orchestration.run_tags import code_location_tags, range_tags


@contextlib.contextmanager
def sample_sources(
    settings: CliSettings,
    services: list[Service],
    say: Say = print,
    log: IO[bytes] | None = None,
) -> Iterator[None]:
    """Start the bundled REST/GraphQL stand-ins unless both source URLs are set; the resources
    of the runs (and the processes started later) find them through the environment."""
    if settings.own_sources:
        if log is not None:
            log.close()
        yield
        return
    port = settings.sample_sources_port
    url = f"http://127.0.0.1:{port}"
    service = start_service(
        "the sample sources",
        [sys.executable, "-m", "sample_sources", "serve", "--port", str(port)],
        dict(os.environ),
        log,
    )
    services.append(service)
    wait_for_http(f"{url}/_health", service=service)
    rest = os.environ["REST_API_URL"] = settings.rest_api_url or url
    graphql = os.environ["GRAPHQL_API_URL"] = settings.graphql_api_url or f"{url}/graphql"
    say(f"sample sources: REST {rest}, GraphQL {graphql}")
    yield


def stretches(days: list[str]) -> list[tuple[str, str]]:
    """The runs of consecutive days among the sorted `days`, as (first, last)."""
    runs: list[tuple[str, str]] = []
    for day in days:
        if runs and date.fromisoformat(day) - date.fromisoformat(runs[-1][1]) == timedelta(1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def materialize_everything(
    settings: CliSettings, instance: DagsterInstance, say: Say = print
) -> None:
    """Run every job once: the REST snapshots, each GraphQL dataset over all its partitions,
    every landed day of sales and of each declared CSV feed, records."""
    # Loaded here so that the resources see the source URLs set by `sample_sources`, and the
    # partitions the start `resolve_partitions_start` set.
    from orchestration import definitions

    defs = definitions.defs()
    landing = CsvLandingResource(location=settings.landing_dir)
    days = list(landing.drops())

    def run(job: str, what: str = "", tags: dict[str, str] | None = None) -> None:
        started = time.monotonic()
        # resolve_job_def: the jobs are `define_asset_job` ones, bound to the assets here.
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, tags=code_location_tags() | (tags or {})
        )
        if not result.success:
            raise SystemExit(f"{job} failed; its steps' logs are in Dagster's run {result.run_id}")
        say(f"materialized {job}{what} in {time.monotonic() - started:.1f} s")

    run("rest_api_job")
    for snapshot in GRAPHQL_SNAPSHOTS:
        keys = snapshot.partition_keys
        run(f"{snapshot.name}_job", tags=range_tags(keys[0], keys[-1]) if keys else None)
    if days:
        run("sales_job", f" ({days[0]}...{days[-1]})", tags=range_tags(days[0], days[-1]))
    for feed in FEEDS:
        partitions = defs.resolve_job_def(f"{feed.name}_job").partitions_def
        landed = [d for d in landing.drops(feed.folder) if partitions.has_partition_key(d)]
        for first, last in stretches(landed):
            run(f"{feed.name}_job", f" ({first}...{last})", tags=range_tags(first, last))
    run("records_job")
    recorded, _ = record_finished_runs(instance, open_warehouse(settings.warehouse_url))
    say(f"recorded {recorded} run(s) in pipeline_runs")


@contextlib.contextmanager
def embedded_platform(
    settings: CliSettings, say: Say = print, sources_log: IO[bytes] | None = None
) -> Iterator[list[Service]]:
    """Sources up, drops landed, every asset materialized; yields the processes started."""
    services: list[Service] = []
    try:
        with sample_sources(settings, services, say, sources_log):
            instance = ensure_dagster_home(settings)  # first: the start is kept in DAGSTER_HOME
            ensure_sample_drops(settings, say)
            resolve_partitions_start(settings, say)
            materialize_everything(settings, instance, say)
            yield services
    finally:
        stop_services(services)


def table_counts(settings: CliSettings) -> dict[str, int]:
    wh = open_warehouse(settings.warehouse_url)
    return {name: wh.count(c) if wh.table_exists(name) else 0 for name, c in CONTRACTS.items()}


def lake_counts() -> dict[str, int]:
    """The rows of each Delta table in the lake (`make sql` reads them)."""
    lake = resources_from_env()["lake"].process_config_and_initialize().tables()
    return {name: lake.state(name).rows for name in lake.table_names()}
