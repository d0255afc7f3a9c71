"""`run`: the embedded platform brought up, then the Dagster UI (`dg dev`) and the serving API
started beside it and watched until Ctrl-C or until one of them exits; the terminal shows a few
progress lines and the banner, the logs go to files under LOG_DIR unless `--verbose`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from core.warehouse import open_warehouse
from orchestration.cli.console import (
    DAGSTER_LOG,
    SERVING_LOG,
    SOURCES_LOG,
    Console,
    banner,
    shown,
)
from orchestration.cli.platform import embedded_platform, table_counts
from orchestration.cli.processes import Service, start_service, wait_for_http
from orchestration.cli.settings import DEFAULT_LOG_DIR, DEV_API_KEY, ROOT, CliSettings
from orchestration.instance import BATCH_SIZE_VARIABLE, DEFAULT_BATCH_SIZE

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
    ui = start_service("the Dagster UI (dg dev)", ui_cmd, dg_env, console.log(DAGSTER_LOG))
    services.append(ui)
    ui_url = f"http://127.0.0.1:{settings.ui_port}"
    api_url = None
    if (ROOT / "serving" / "app.py").exists():
        port = str(settings.api_port)
        api_cmd = [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", port]
        # The push endpoints need a key: a development one unless SERVING_API_KEYS is set.
        api_env = env | {"SERVING_API_KEYS": settings.serving_api_keys or DEV_API_KEY}
        api = start_service("the serving API", api_cmd, api_env, console.log(SERVING_LOG))
        services.append(api)
        api_url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{api_url}/ping", 60, api)
    wait_for_http(f"{ui_url}/server_info", 180, ui)
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
        console.say(f"starting; the logs go to {shown(console.log_dir)}/")
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
