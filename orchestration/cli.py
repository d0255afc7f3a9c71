"""`python -m orchestration.cli demo|run|backfill`: the embedded platform in one command.

`demo` materializes every asset from the sources (the bundled stand-ins unless REST_API_URL /
GRAPHQL_API_URL point elsewhere; sample sales drops on the days before today in an empty landing
folder) into the embedded warehouse and lake, then prints each table's row count. The partitions
begin where the drops do, unless SALES_START_DATE says otherwise. `run` does the same, then
serves the Dagster UI (`dg dev`) and the serving API until Ctrl-C; its terminal shows a few
progress lines and ends with a banner of addresses, while the step, daemon and API logs go to
files under LOG_DIR (default data/logs; `--verbose` prints them instead). `backfill --from D1
--to D2` backfills the sales days through the running webserver, as one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

from dagster import DagsterInstance

from core.contracts import CONTRACTS
from core.settings import (
    explicit_settings,
    keep_start,
    kept_start,
    platform_settings,
    start_file,
)
from core.warehouse import open_warehouse
from orchestration.cli_settings import CliSettings
from orchestration.defs.platform.run_history import record_finished_runs
from orchestration.instance import BATCH_SIZE_VARIABLE, DEFAULT_BATCH_SIZE
from orchestration.resources import resources_from_env
from orchestration.resources.sources import CsvLandingResource
from orchestration.run_tags import range_tags

ROOT = Path(__file__).resolve().parent.parent
# The key `make run` gives the API's push endpoints when SERVING_API_KEYS is unset.
DEV_API_KEY = "dev-key"
# The bundled sales drops land on this many days, ending yesterday (UTC): the newest partitions
# are the filled ones and the 02:00 schedule's "yesterday" has a drop.
SAMPLE_DAYS = 5
# In the landing folder: the last day of the bundled sample, while its drops are the newest.
SAMPLE_MARK = ".sample-drops"
# The embedded instance: its config is kept in the repository and copied into DAGSTER_HOME.
EMBEDDED_DAGSTER_YAML = ROOT / "deploy" / "embedded" / "dagster.yaml"
DEFAULT_DAGSTER_HOME = ROOT / "data" / "dagster_home"
DEFAULT_LOG_DIR = ROOT / "data" / "logs"
# `run`'s log files, in LOG_DIR.
DAGSTER_LOG, SERVING_LOG, SOURCES_LOG = "dagster.log", "serving.log", "sample-sources.log"

Say = Callable[[str], None]


def _shown(path: Path) -> str:
    """`path` as a user would type it: relative to the working directory when under it."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


class Console:
    """Where `run` writes. Quiet (a log directory given): the few lines a user reads go to the
    terminal, everything else (Dagster's step logs, warnings, the child processes' output) to
    files in the log directory. Verbose (no log directory): everything on the terminal."""

    def __init__(self, log_dir: Path | None) -> None:
        self.log_dir = log_dir
        self.terminal: IO[str] = sys.stdout

    def say(self, text: str = "") -> None:
        print(text, file=self.terminal, flush=True)
        if self.terminal is not sys.stdout:
            print(text, flush=True)  # the log keeps the same landmarks

    def log(self, name: str) -> IO[bytes] | None:
        """A log file for a child process to append to (None: let it inherit the terminal)."""
        if self.log_dir is None:
            return None
        return (self.log_dir / name).open("ab")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """This process's stdout and stderr (the file descriptors, so that Dagster's console
        logger, warnings and anything inherited by children follow) into LOG_DIR/dagster.log;
        the terminal keeps a descriptor of its own for `say`."""
        if self.log_dir is None:
            yield
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for name in (DAGSTER_LOG, SERVING_LOG, SOURCES_LOG):
            log = self.log_dir / name
            if log.exists():  # the previous run's, kept once
                log.replace(log.with_name(f"{name}.1"))
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        self.terminal = os.fdopen(os.dup(1), "w", buffering=1)
        fd = os.open(self.log_dir / DAGSTER_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            self.terminal.close()
            self.terminal = sys.stdout


@dataclass
class Service:
    """A child process `run` started, with what to tell a user about it."""

    name: str
    proc: subprocess.Popen[bytes]
    log: str | None = None  # where its output goes (None: the terminal)

    def poll(self) -> int | None:
        return self.proc.poll()


def _wait_for_http(url: str, timeout_s: float = 20.0, service: Service | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            if service is not None and service.poll() is not None:
                where = f"; its log: {service.log}" if service.log else ""
                raise RuntimeError(
                    f"{service.name} exited (code {service.poll()}) before answering{where}"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s") from None
            time.sleep(0.2)


def _start(name: str, cmd: list[str], env: dict[str, str], log: IO[bytes] | None = None) -> Service:
    # A process group of its own: Ctrl-C reaches it through us, and `dg dev` only honours
    # SIGINT when it was not started with SIGINT ignored.
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,
    )
    if log is not None:
        log.close()  # the child holds its own descriptor
    return Service(name, proc, _shown(Path(log.name)) if log else None)


def _stop(services: list[Service]) -> None:
    for service in reversed(services):
        if service.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.proc.pid, signal.SIGINT)
    for service in reversed(services):
        try:
            service.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.proc.pid, signal.SIGKILL)


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
    service = _start(
        "the sample sources",
        [sys.executable, "-m", "sample_sources", "serve", "--port", str(port)],
        dict(os.environ),
        log,
    )
    services.append(service)
    _wait_for_http(f"{url}/_health", service=service)
    rest = os.environ["REST_API_URL"] = settings.rest_api_url or url
    graphql = os.environ["GRAPHQL_API_URL"] = settings.graphql_api_url or f"{url}/graphql"
    say(f"sample sources: REST {rest}, GraphQL {graphql}")
    yield


def utc_today() -> date:
    return datetime.now(UTC).date()


def ensure_sample_drops(settings: CliSettings, say: Say = print, today: date | None = None) -> None:
    """The bundled sales drops on the latest days: in an empty landing folder, the SAMPLE_DAYS
    days ending yesterday (UTC). On a later day, while the newest drop is still the sample's
    (as the mark left beside them says), the days since then, as a daily source would have
    delivered them; drops of the user's own are never added to."""
    location = settings.landing_dir
    if location.startswith("s3://"):
        return
    from sample_sources.sales import write_sample_drops

    landing, mark = Path(location), Path(location) / SAMPLE_MARK
    yesterday = (today or utc_today()) - timedelta(days=1)
    drops = list(CsvLandingResource(location=location).drops())
    if not drops:
        first = yesterday - timedelta(days=SAMPLE_DAYS - 1)
    elif mark.is_file() and mark.read_text().strip() == drops[-1]:
        first = date.fromisoformat(drops[-1]) + timedelta(days=1)
    else:
        return
    if first > yesterday:
        return
    files = write_sample_drops(landing, first, yesterday)
    mark.write_text(f"{yesterday.isoformat()}\n")
    more = " more" if drops else ""
    say(f"wrote {len(files)}{more} sample sales drops ({first}...{yesterday}) to {location}/sales/")


def resolve_partitions_start(
    settings: CliSettings, say: Say = print, today: date | None = None
) -> date:
    """The first day of the partitions, for this process and every one it starts (through
    SALES_START_DATE in the environment): the one the environment or `.env` sets; else the
    earlier of the one kept for this instance and the first drop in the landing area (a start
    that moved later would orphan partitions the instance recorded); else yesterday. A start
    resolved here is kept in $DAGSTER_HOME/partitions.env for later runs."""
    explicit = explicit_settings().sales_start_date
    if explicit is not None:
        return explicit
    kept = kept_start()
    days = list(CsvLandingResource(location=settings.landing_dir).drops())
    found = [day for day in (kept, date.fromisoformat(days[0]) if days else None) if day]
    start = min(found) if found else (today or utc_today()) - timedelta(days=1)
    if start != kept:
        keep_start(start)
    os.environ["SALES_START_DATE"] = start.isoformat()
    hour = platform_settings().first_hour_key
    say(
        f"partitions begin where the data does: {start} (daily), {hour} (hourly); "
        f"kept in {_shown(start_file())}"
    )
    return start


def ensure_dagster_home(settings: CliSettings) -> DagsterInstance:
    """DAGSTER_HOME with the embedded instance config. The default home under data/ holds a copy
    of deploy/embedded/dagster.yaml, refreshed when the repository's changes; a home of the
    user's own keeps whatever dagster.yaml it has. The instance, the kept start and the
    processes started later find it through the environment."""
    home = settings.dagster_home or DEFAULT_DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    shipped = EMBEDDED_DAGSTER_YAML.read_text()
    ours = home.resolve() == DEFAULT_DAGSTER_HOME.resolve()
    if not target.exists() or (ours and target.read_text() != shipped):
        target.write_text(shipped)
    return DagsterInstance.get()


def materialize_everything(
    settings: CliSettings, instance: DagsterInstance, say: Say = print
) -> None:
    """Run every job once: the REST snapshots, each continent, every landed sales day, records."""
    # Loaded here so that the resources see the source URLs set by `sample_sources`, and the
    # partitions the start `resolve_partitions_start` set.
    from orchestration import definitions
    from orchestration.defs.countries_graphql.partitions import CONTINENTS

    defs = definitions.defs()
    days = list(CsvLandingResource(location=settings.landing_dir).drops())

    def run(job: str, what: str = "", **kwargs: object) -> None:
        started = time.monotonic()
        # resolve_job_def: the jobs are `define_asset_job` ones, bound to the assets here.
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, **kwargs)
        if not result.success:
            raise SystemExit(f"{job} failed; its steps' logs are in Dagster's run {result.run_id}")
        say(f"materialized {job}{what} in {time.monotonic() - started:.1f} s")

    run("rest_api_job")
    run("countries_job", tags=range_tags(CONTINENTS[0], CONTINENTS[-1]))
    if days:
        run("sales_job", f" ({days[0]}...{days[-1]})", tags=range_tags(days[0], days[-1]))
    run("records_job")
    recorded, _ = record_finished_runs(instance, open_warehouse(settings.warehouse_url))
    say(f"recorded {recorded} run(s) in pipeline_runs")


def table_counts(settings: CliSettings) -> dict[str, int]:
    wh = open_warehouse(settings.warehouse_url)
    return {name: wh.count(c) if wh.table_exists(name) else 0 for name, c in CONTRACTS.items()}


def lake_counts() -> dict[str, int]:
    """The rows of each Delta table in the lake (`make sql` reads them)."""
    lake = resources_from_env()["lake"].process_config_and_initialize().tables()
    return {name: lake.state(name).rows for name in lake.table_names()}


def print_tables(settings: CliSettings) -> None:
    engine = open_warehouse(settings.warehouse_url).engine
    lake = lake_counts()
    print(f"\n{'table':<18} {'warehouse':>9} {'lake':>6}   ({engine}; lake: Delta tables)")
    for name, rows in table_counts(settings).items():
        print(f"{name:<18} {rows:>9} {lake.get(name, '-'):>6}")


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
        _stop(services)


def demo(settings: CliSettings) -> None:
    with embedded_platform(settings):
        pass
    print_tables(settings)


def banner(ui: str, api: str | None, dev_key: bool, logs: Path | None) -> str:
    """What `run` prints last, once the UI and the API answer."""
    lines = ["", f"Dagster UI    {ui}"]
    if api:
        lines.append(f"Serving API   {api}  (endpoints and a try-it page: {api}/docs)")
    if dev_key:
        lines.append(f"Push key      X-API-Key: {DEV_API_KEY}  (set SERVING_API_KEYS to change)")
    if logs is None:
        lines.append("Logs          printed here (VERBOSE=1)")
    else:
        where = _shown(logs)
        lines += [
            f"Logs          {where}/{DAGSTER_LOG} (runs, steps, daemon, sensors), "
            f"{SERVING_LOG}, {SOURCES_LOG}",
            "              `make run VERBOSE=1` prints them here instead",
        ]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)


LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }"""


def location_errors(workspace: dict) -> list[str] | None:
    """What to say of each code location that failed to load, from a `LOCATIONS` answer; None
    while one still loads."""
    entries = workspace["workspaceOrError"].get("locationEntries", [])
    if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
        return None
    return [
        f"code location {e['name']} failed to load: {_first_line(e['locationOrLoadError'])}"
        for e in entries
        if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
    ]


def _first_line(error: dict, limit: int = 160) -> str:
    line = error["message"].strip().splitlines()[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def wait_for_code(ui_url: str, service: Service, timeout_s: float = 120) -> list[str]:
    """Until the webserver has loaded the code; the locations that failed to load."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and service.poll() is None:
        with contextlib.suppress(httpx.HTTPError, KeyError, TypeError):
            answer = httpx.post(f"{ui_url}/graphql", json={"query": LOCATIONS}, timeout=10)
            errors = location_errors(answer.json()["data"])
            if errors is not None:
                return errors
        time.sleep(0.5)
    return [f"the code locations did not load within {timeout_s:.0f} s"]


def serve(settings: CliSettings, console: Console, services: list[Service]) -> None:
    """Start the UI and the API beside the processes already up, then print the banner."""
    say = console.say
    counts = table_counts(settings)
    engine = open_warehouse(settings.warehouse_url).engine
    say(
        f"warehouse ({engine}): {sum(counts.values())} rows in {len(counts)} tables "
        "(`make demo` prints each)"
    )
    say("starting the Dagster UI (dg dev) and the serving API...")
    env = dict(os.environ)
    # `dg` warns unless the project's virtualenv is the active one, as `activate` would make it.
    # Dagster hands the embedded event log its events in batches (orchestration/instance.py).
    dg_env = env | {"VIRTUAL_ENV": sys.prefix}
    dg_env.setdefault(BATCH_SIZE_VARIABLE, str(DEFAULT_BATCH_SIZE))
    dg = str(Path(sys.executable).with_name("dg"))
    ui_cmd = [dg, "dev", "-h", "127.0.0.1", "-p", str(settings.ui_port)]
    ui = _start("the Dagster UI (dg dev)", ui_cmd, dg_env, console.log(DAGSTER_LOG))
    services.append(ui)
    ui_url = f"http://127.0.0.1:{settings.ui_port}"
    api_url = None
    if (ROOT / "serving" / "app.py").exists():
        port = str(settings.api_port)
        api_cmd = [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", port]
        # The push endpoints need a key: a development one unless SERVING_API_KEYS is set.
        api_env = env | {"SERVING_API_KEYS": settings.serving_api_keys or DEV_API_KEY}
        api = _start("the serving API", api_cmd, api_env, console.log(SERVING_LOG))
        services.append(api)
        api_url = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{api_url}/ping", 60, api)
    _wait_for_http(f"{ui_url}/server_info", 180, ui)
    # Quiet, a code location that fails to load would only show in the UI and the log.
    for error in wait_for_code(ui_url, ui):
        where = f"; the log: {ui.log}" if ui.log else ""
        say(f"{error} (the UI shows why{where})")
    dev_key = bool(api_url) and not settings.serving_api_keys
    say(banner(ui_url, api_url, dev_key, console.log_dir))


def run(settings: CliSettings, verbose: bool = False) -> None:
    # Started in the background of a script we inherit SIGINT ignored, and so would our
    # children; a handler of our own is reset to the default in them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    console = Console(None if verbose else settings.log_dir or DEFAULT_LOG_DIR)
    if console.log_dir is not None:
        console.say(f"starting; the logs go to {_shown(console.log_dir)}/")
    exited: list[Service] = []
    try:
        with (
            console.quiet(),
            embedded_platform(settings, console.say, console.log(SOURCES_LOG)) as services,
        ):
            try:
                serve(settings, console, services)
                while not (exited := [s for s in services if s.poll() is not None]):
                    time.sleep(0.5)
                for service in exited:
                    where = f"; its log: {service.log}" if service.log else ""
                    console.say(f"{service.name} exited on its own (code {service.poll()}){where}")
                console.say("stopping the others...")
            except KeyboardInterrupt:
                console.say("\nstopping...")
    except KeyboardInterrupt:  # before the UI started
        print("\nstopped.", flush=True)
        return
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None
    print("stopped.", flush=True)
    if exited:
        raise SystemExit(1)


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


def main(argv: list[str] | None = None) -> None:
    settings = CliSettings()
    parser = argparse.ArgumentParser(prog="python -m orchestration.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize everything headless and print the tables")
    serve_ui = sub.add_parser("run", help="materialize everything, then serve the UI until Ctrl-C")
    serve_ui.add_argument(
        "--verbose",
        action="store_true",
        help="print the logs (steps, daemon, API) here instead of in files under LOG_DIR",
    )
    fill = sub.add_parser("backfill", help="backfill the sales days FROM..TO in one run")
    fill.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
    fill.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD")
    ui = f"http://127.0.0.1:{settings.ui_port}"
    fill.add_argument("--url", default=ui, help="the webserver")
    args = parser.parse_args(argv)
    if args.command == "backfill":
        backfill(args.first, args.last, args.url)
    elif args.command == "run":
        run(settings, args.verbose)
    else:
        demo(settings)


if __name__ == "__main__":
    main()
