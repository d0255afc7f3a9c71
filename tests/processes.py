"""Helpers for tests that start real processes on loopback."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from orchestration.instance import BATCH_SIZE_VARIABLE, DEFAULT_BATCH_SIZE

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout_s: float, alive=lambda: True) -> None:
    """Poll `url` until it answers 200, while `alive()` holds."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert alive(), f"the process serving {url} exited"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never answered"
        time.sleep(1)


@contextlib.contextmanager
def serve_api(warehouse_url: str, log_dir: Path, **settings: Any) -> Iterator[str]:
    """`python -m serving` (one uvicorn worker) on a free port; yields its base URL.

    `settings` become `SERVING_<NAME>` variables; the process's stderr goes to
    `log_dir/serving.log`, so a test can read what the API logged.
    """
    port = free_port()
    env = dict(os.environ, WAREHOUSE_URL=warehouse_url, SERVING_ACCESS_LOG="false")
    env.update({f"SERVING_{k.upper()}": str(v) for k, v in settings.items()})
    log = (log_dir / "serving.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "serving", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/ping", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, (log_dir / "serving.log").read_text()
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextlib.contextmanager
def dagster_dev(home: Path, env: dict[str, str]) -> Iterator[str]:
    """`dagster dev` (webserver, daemon, code server) on the embedded instance config, in its
    own process group; yields the webserver's URL and stops the group with SIGINT."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "deploy/embedded/dagster.yaml").read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dagster = str(Path(sys.executable).with_name("dagster"))
    proc = subprocess.Popen(
        [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env={BATCH_SIZE_VARIABLE: str(DEFAULT_BATCH_SIZE), **env, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_http(f"{url}/server_info", 120, alive=lambda: proc.poll() is None)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
