"""`make demo` and `make run` as a newcomer runs them: real processes, temporary data folders."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from orchestration.cli import console
from orchestration.cli.home import EMBEDDED_DAGSTER_YAML, ensure_dagster_home
from orchestration.cli.processes import Service
from orchestration.cli.run import location_errors, wait_for_code
from orchestration.cli.settings import CliSettings
from tests.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
# What Dagster and dg print at start when something is deprecated or misconfigured: a Python
# warning (`UserWarning: Found asset job named ... UnresolvedAssetJobDefinition`,
# `SupersessionWarning: Function `dev_command` is superseded`), the instance file ignored in the
# working directory, dg's virtualenv mismatch.
START_WARNINGS = re.compile(
    r"\w+Warning: |UnresolvedAssetJobDefinition|superseded|will not be used to configure Dagster"
    r"|does not match the virtual environment"
)


def start_warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if START_WARNINGS.search(line)]


def embedded_env(tmp_path: Path, warehouse_url: str | None = None, **extra: str) -> dict[str, str]:
    # As a newcomer runs it: no source URL and no partitions' start set (the test session sets
    # one), so that the start is resolved from the sample data.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_URL") and k not in ("SALES_START_DATE", "LOGS_START_DATE")
    }
    return env | {
        "WAREHOUSE_URL": warehouse_url or f"sqlite:///{tmp_path / 'warehouse.db'}",
        "LAKE_URL": str(tmp_path / "lake"),
        "LANDING_DIR": str(tmp_path / "landing"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "LOG_DIR": str(tmp_path / "logs"),
        "SAMPLE_SOURCES_PORT": str(free_port()),
        **extra,
    }


def sample_days() -> list[str]:
    """The five days before today (UTC), where `make run` dates the sample drops."""
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in range(5, 0, -1)]


# What a process that starts later with no start in its environment (`dg dev` by hand, a run
# worker, the API) reads of the partitions: the daily keys, the first hourly key, and the
# partition the 02:00 schedule asks for today.
PARTITIONS_SEEN = """
import json, warnings
from datetime import UTC, datetime
from dagster import build_schedule_context
from orchestration.definitions import defs

defs = defs()
from serving.core.config import Settings

warnings.simplefilter("ignore")
two = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
context = build_schedule_context(scheduled_execution_time=two)
[request] = defs.get_schedule_def("daily_sales").evaluate_tick(context).run_requests
print(json.dumps({
    "daily": defs.get_assets_def("sales_orders").partitions_def.get_partition_keys(),
    "hourly_first": defs.get_assets_def("logs").partitions_def.get_first_partition_key(),
    "schedule": request.partition_key,
    "api_logs_start": Settings().logs_start_date,
}))
"""


def python(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def partitions_seen(env: dict[str, str]) -> dict:
    done = python(["-c", PARTITIONS_SEEN], env, 120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def table_counts(stdout: str) -> tuple[dict[str, int], dict[str, int]]:
    """The rows of each table printed: in the warehouse, and in the lake where it has it."""
    rows = [line.split() for line in stdout.split("table ", 1)[1].splitlines()[1:] if line.strip()]
    warehouse = {name: int(n) for name, n, _ in rows}
    return warehouse, {name: int(n) for name, _, n in rows if n != "-"}


def test_demo_materializes_everything_and_prints_the_tables(tmp_path, warehouse_url):
    env = embedded_env(tmp_path, warehouse_url)
    days = sample_days()
    done = python(["-m", "orchestration.cli", "demo"], env, 300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert start_warnings(done.stdout + done.stderr) == []
    # A line per step on the terminal; Dagster's step logs in LOG_DIR.
    assert "materialized rest_api_job in" in done.stdout
    assert " - DEBUG - " not in done.stdout + done.stderr
    assert "STEP_SUCCESS" in (tmp_path / "logs" / "dagster.log").read_text()
    counts, lake = table_counts(done.stdout)
    # The same tables and row counts on SQLite and on PostgreSQL: the sample data is
    # deterministic, 5,200 sales rows of which 200 are duplicates and 125 rejects.
    assert counts == {
        "users": 10,
        "posts": 100,
        "countries": 252,
        "sales_orders": 4875,
        "sales_rejects": 125,
        "sales_daily": 5,
        "records": 10 + 100 + 252 + 4875 + 200 + 500,
        "api_rejects": 0,
        # users writes two ledger rows: its API upsert and its `source=push` slice; todos and
        # comments one each, with their api_rejects scopes and their records slices.
        "partition_ledger": 45,
        # Every version passed its blocking checks: nothing was held back.
        "quarantine": 0,
        # Its four runs reached pipeline_runs without a daemon.
        "pipeline_runs": 4,
        # Nothing was pushed: the landing tables and what is built from them are empty.
        "landing_logs": 0,
        "landing_users": 0,
        "logs": 0,
        "log_levels_hourly": 0,
        # The datasets declared in core/datasets/ beside posts: 20 to-dos a user, 5 comments a post.
        "todos": 200,
        "comments": 500,
    }
    # Every served table it loaded is in the lake as a Delta table, with the same rows.
    served = ["users", "posts", "countries", "sales_orders", "sales_rejects", "sales_daily"]
    served += ["todos", "comments"]
    assert lake == {name: counts[name] for name in [*served, "records"]}
    days_in_lake = (tmp_path / "lake" / "delta" / "sales_orders").glob("order_date=*")
    assert len(list(days_in_lake)) == 5
    # The runs are in the persistent Dagster instance, for the UI to show.
    assert any((tmp_path / "dagster_home").glob("history/runs/*.db"))

    # The sample drops are the five days before today, and the partitions begin at the first.
    drops = sorted(p.name for p in (tmp_path / "landing" / "sales").glob("*.csv"))
    assert drops == [f"sales_{day}.csv" for day in days]
    assert f"materialized sales_job ({days[0]}...{days[-1]})" in done.stdout
    hour = f"{days[0]}-00:00"
    assert f"partitions begin where the data does: {days[0]} (daily), {hour} (hourly)" in (
        done.stdout
    )
    # A process started later with no start in its environment reads the one kept: as many
    # daily partitions as days of data, the hourly ones from the data's first hour, the API's
    # gate at that hour, and the 02:00 schedule asking for yesterday, which has a drop.
    seen = partitions_seen(env)
    assert seen["daily"] == days
    assert seen["hourly_first"] == hour and seen["api_logs_start"] == hour
    assert seen["schedule"] == days[-1]
    assert (tmp_path / "landing" / "sales" / f"sales_{seen['schedule']}.csv").is_file()


WORKSPACE_REPOSITORIES = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { ... on RepositoryLocation { repositories { name } } } } } } }"""
JOB_RUNS = """query ($filter: RunsFilter!) { pipelineRunsOrError(filter: $filter) {
  ... on Runs { results { runId status } } } }"""


def job_page_runs(graphql: str, job: str) -> list[dict[str, str]]:
    """The runs a job's Runs tab shows: the job's, tagged with its repository's label
    (`<repository>@<location>`, the UI's `repoAddressAsTag`)."""
    workspace = httpx.post(graphql, json={"query": WORKSPACE_REPOSITORIES}).json()["data"]
    (entry,) = workspace["workspaceOrError"]["locationEntries"]
    (repository,) = entry["locationOrLoadError"]["repositories"]
    label = f"{repository['name']}@{entry['name']}"
    tags = [{"key": ".dagster/repository", "value": label}]
    answer = httpx.post(
        graphql,
        json={"query": JOB_RUNS, "variables": {"filter": {"pipelineName": job, "tags": tags}}},
    ).json()
    return answer["data"]["pipelineRunsOrError"]["results"]


@pytest.mark.slow
def test_run_serves_the_ui_and_ctrl_c_stops_everything(tmp_path):
    ui_port, api_port = free_port(), free_port()
    env = embedded_env(tmp_path, UI_PORT=str(ui_port), API_PORT=str(api_port))
    terminal, logs = tmp_path / "terminal.txt", tmp_path / "logs"
    with terminal.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    ui = f"http://127.0.0.1:{ui_port}/server_info"
    try:
        wait_for_http(ui, 180, alive=lambda: proc.poll() is None)
        # The serving API runs beside the UI, on the warehouse the run just filled.
        api = f"http://127.0.0.1:{api_port}"
        wait_for_http(f"{api}/ping", 60, alive=lambda: proc.poll() is None)
        assert len(httpx.get(f"{api}/users", params={"limit": 50}).json()["data"]) == 10
        # The push endpoints take the development key the run printed.
        user = {"name": "Dev User", "email": "dev@example.org", "role": "analyst"}
        pushed = httpx.post(f"{api}/users", json=user, headers={"X-API-Key": "dev-key"})
        assert pushed.status_code == 201, pushed.text
        assert httpx.get(f"{api}/users/dev@example.org").json()["source"] == "push"
        # The embedded instance shows no first-visit dialog over the UI.
        nux = httpx.post(f"http://127.0.0.1:{ui_port}/graphql", json={"query": "{ shouldShowNux }"})
        assert nux.json() == {"data": {"shouldShowNux": False}}
        # Each job's Runs tab lists the run `make run` did first, as it filters (by the job and
        # the label of the repository the webserver loaded).
        for job in ("rest_api_job", "countries_job", "sales_job", "records_job"):
            runs = job_page_runs(f"http://127.0.0.1:{ui_port}/graphql", job)
            assert [r["status"] for r in runs] == ["SUCCESS"], (job, runs)

        # The banner comes last, once both answer, after a few lines of progress.
        deadline = time.monotonic() + 30
        while "Ctrl-C stops everything." not in terminal.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, terminal.read_text()
            time.sleep(0.2)
        shown = terminal.read_text()
        before, banner = shown.split("\nDagster UI ", 1)
        assert len(before.splitlines()) <= 12, before
        assert f"http://127.0.0.1:{ui_port}" in banner
        assert f"http://127.0.0.1:{api_port}/docs" in banner
        assert "X-API-Key: dev-key" in banner
        assert f"{logs}/dagster.log" in banner and "make run VERBOSE=1" in banner
        days = sample_days()
        assert f"materialized sales_job ({days[0]}...{days[-1]})" in before
        assert "failed to load" not in before and "did not load" not in before
        # Steps, daemon ticks and the API's lines went to the files; the terminal stays as it
        # was while the daemon goes on logging.
        dagster_log = logs / "dagster.log"
        size = dagster_log.stat().st_size
        deadline = time.monotonic() + 90
        while dagster_log.stat().st_size == size:
            assert time.monotonic() < deadline, "the daemon logged nothing for 90 s"
            time.sleep(0.5)
        time.sleep(1)
        assert terminal.read_text() == shown
        assert not re.search(r" - (DEBUG|INFO) - ", shown), shown
        assert shown.rstrip().endswith("Ctrl-C stops everything.")
        logged = dagster_log.read_text()
        assert "STEP_SUCCESS" in logged and "dagster.daemon" in logged
        assert "Serving dagster-webserver" in logged
        assert "Application startup complete" in (logs / "serving.log").read_text()
        # No deprecation or configuration warning at start, on the terminal or in any log.
        for text in [shown, *(f.read_text() for f in logs.iterdir())]:
            assert start_warnings(text) == []

        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            # Ctrl-C first: `dg dev` runs in a session of its own, which only the command's
            # own shutdown stops.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    output = terminal.read_text()
    assert "stopping" in output
    assert output.rstrip().endswith("stopped.")
    assert "X-API-Key: dev-key" in output
    with pytest.raises(httpx.TransportError):
        httpx.get(ui, timeout=2)


CLI_VARIABLES = (
    "SAMPLE_SOURCES_PORT",
    "UI_PORT",
    "API_PORT",
    "REST_API_URL",
    "GRAPHQL_API_URL",
    "LANDING_DIR",
    "WAREHOUSE_URL",
    "DAGSTER_HOME",
    "LOG_DIR",
    "SERVING_API_KEYS",
)


def test_the_command_reads_its_environment_once_in_main(monkeypatch):
    for name in CLI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UI_PORT", "")  # blank: unset
    default = CliSettings()
    assert (default.sample_sources_port, default.ui_port, default.api_port) == (8100, 3000, 8000)
    assert default.landing_dir == "data/landing"
    assert default.warehouse_url == "sqlite:///data/warehouse.db"
    assert default.dagster_home is default.log_dir is default.serving_api_keys is None
    assert not default.own_sources

    monkeypatch.setenv("UI_PORT", "3100")
    monkeypatch.setenv("REST_API_URL", "http://rest.test")
    monkeypatch.setenv("GRAPHQL_API_URL", "http://graphql.test/graphql")
    monkeypatch.setenv("LOG_DIR", "/tmp/logs")
    given = CliSettings()
    assert given.ui_port == 3100 and given.own_sources and str(given.log_dir) == "/tmp/logs"

    # Nothing is read at import: a bad port fails `main`, naming the variable, not the import.
    env = {**os.environ, "UI_PORT": "not-a-port"}
    code = "import orchestration.cli as c; c.main(['backfill', '--from', 'x', '--to', 'y'])"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "UI_PORT" in done.stderr, done.stderr
    imported = subprocess.run([sys.executable, "-c", code.split(";")[0]], cwd=ROOT, env=env)
    assert imported.returncode == 0


def test_the_banner_says_where_everything_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    quiet = console.banner(
        "http://127.0.0.1:3000", "http://127.0.0.1:8000", True, tmp_path / "logs"
    )
    assert quiet.splitlines()[1:] == [
        "Dagster UI    http://127.0.0.1:3000",
        "Serving API   http://127.0.0.1:8000  "
        "(endpoints and a try-it page: http://127.0.0.1:8000/docs)",
        "Push key      X-API-Key: dev-key  (set SERVING_API_KEYS to change)",
        "Logs          logs/dagster.log (runs, steps, daemon, sensors), serving.log, "
        "sample-sources.log",
        "              `make run VERBOSE=1` prints them here instead",
        "Ctrl-C stops everything.",
    ]
    verbose = console.banner("http://127.0.0.1:3000", None, False, None)
    assert "Logs          printed here (VERBOSE=1)" in verbose
    assert "Serving API" not in verbose and "Push key" not in verbose


def test_a_code_location_that_fails_to_load_is_named_before_the_banner():
    def workspace(status: str, error: dict | None) -> dict:
        entry = {"name": "dataplatform", "loadStatus": status, "locationOrLoadError": error}
        return {"workspaceOrError": {"__typename": "Workspace", "locationEntries": [entry]}}

    assert location_errors(workspace("LOADING", None)) is None
    assert location_errors(workspace("LOADED", {"__typename": "RepositoryLocation"})) == []
    broken = {
        "__typename": "PythonError",
        "message": "NameError: name 'Verdict' is not defined\n\nStack Trace: ...",
    }
    assert location_errors(workspace("LOADED", broken)) == [
        "code location dataplatform failed to load: NameError: name 'Verdict' is not defined"
    ]


@pytest.mark.slow
def test_wait_for_code_names_a_location_that_fails_on_a_real_webserver(tmp_path):
    (tmp_path / "broken.py").write_text("import a_module_that_is_not_there\n")
    (tmp_path / "workspace.yaml").write_text(
        "load_from:\n  - python_file:\n      relative_path: broken.py\n"
        "      location_name: broken\n"
    )
    (tmp_path / "home").mkdir()
    port = free_port()
    dg = str(Path(sys.executable).with_name("dg"))
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "home"), VIRTUAL_ENV=sys.prefix)
    with (tmp_path / "dg.log").open("wb") as log:
        proc = subprocess.Popen(
            [dg, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/server_info", 120, alive=lambda: proc.poll() is None)
        [error] = wait_for_code(url, Service("dg dev", proc))
        assert error.startswith("code location broken failed to load: "), error
        assert "No module named 'a_module_that_is_not_there'" in error
        assert len(error) < 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)


def test_the_readme_shows_the_banner_make_run_prints(monkeypatch):
    monkeypatch.chdir(ROOT)
    readme = (ROOT / "README.md").read_text()
    shown = readme.split("once both answer ends with:\n\n```\n", 1)[1].split("```", 1)[0]
    defaults = ("http://127.0.0.1:3000", "http://127.0.0.1:8000", True, ROOT / "data" / "logs")
    assert console.banner(*defaults).strip() + "\n" == shown


@pytest.mark.parametrize(
    ("setting", "flag"), [("", False), ("VERBOSE=1", True), ("VERBOSE=0", False)]
)
def test_make_run_passes_verbose_on(setting, flag):
    done = subprocess.run(
        ["make", "-n", "run", *([setting] if setting else [])],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "VERBOSE"},
        capture_output=True,
        text=True,
        check=True,
    )
    [command] = [line for line in done.stdout.splitlines() if "orchestration.cli run" in line]
    assert command.endswith("orchestration.cli run --verbose") is flag, command


CONSOLE_SCRIPT = """
import logging, subprocess, sys, warnings
from pathlib import Path
from orchestration.cli.console import Console

console = Console(Path(sys.argv[1]) if sys.argv[1] != "-" else None)
with console.quiet():
    console.say("the line a user reads")
    print("a print")
    logging.getLogger("dagster").warning("a log record")
    warnings.warn("a warning")
    subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
print("after")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_console_sends_the_logs_to_a_file_unless_verbose(tmp_path, verbose):
    logs = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, "-c", CONSOLE_SCRIPT, "-" if verbose else str(logs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    shown = done.stdout + done.stderr
    noise = ["a print", "a log record", "UserWarning: a warning", "a child process"]
    if verbose:
        assert all(line in shown for line in noise), shown
        assert not logs.exists()
    else:
        assert shown.splitlines() == ["the line a user reads", "after"]
        logged = (logs / "dagster.log").read_text()
        assert all(line in logged for line in ["the line a user reads", *noise]), logged


def test_the_default_dagster_home_follows_the_embedded_config(tmp_path, monkeypatch):
    default, own = tmp_path / "data" / "dagster_home", tmp_path / "own_home"
    monkeypatch.setattr("orchestration.cli.home.DEFAULT_DAGSTER_HOME", default)
    shipped = EMBEDDED_DAGSTER_YAML.read_text()
    assert "nux:\n  enabled: false" in shipped  # no first-visit dialog in the embedded UI
    for home in (default, own):
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        instance = ensure_dagster_home(CliSettings())
        instance.dispose()
    # The copy under data/ is refreshed; a home of the user's own keeps its config.
    assert (default / "dagster.yaml").read_text() == shipped
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    fresh = tmp_path / "fresh_home"
    monkeypatch.setenv("DAGSTER_HOME", str(fresh))
    instance = ensure_dagster_home(CliSettings())
    assert not instance.nux_enabled
    instance.dispose()
    assert (fresh / "dagster.yaml").read_text() == shipped


def test_no_instance_config_where_dg_dev_starts():
    # `dg dev` runs in the project's root: a dagster.yaml there would be reported as ignored.
    assert not (ROOT / "dagster.yaml").exists() and not (ROOT / "dagster.yml").exists()
