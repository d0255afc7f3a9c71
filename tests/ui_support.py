"""Helpers for the browser test: Debian's Chromium, `dagster dev` in its own process group, and a
small DevTools-protocol client (over `websockets`, which dagster-webserver brings with
`uvicorn[standard]`)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from orchestration.instance import BATCH_SIZE_VARIABLE, DEFAULT_BATCH_SIZE

CHROMIUM = Path("/usr/bin/chromium")
# What works on a machine without a display, as root, in a closed network: without the
# background-networking flags Chromium's own connections are refused many at a time.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_chromium() -> str | None:
    """Install Debian's `chromium` when /usr/bin/chromium is missing; the reason when it can't."""
    if CHROMIUM.exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return f"{CHROMIUM} is missing and apt-get cannot install it here (root with apt needed)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    wait_for_lock = ["-o", "DPkg::Lock::Timeout=300"]  # another apt-get may be running
    for cmd in (
        ["apt-get", *wait_for_lock, "update", "-qq"],
        ["apt-get", *wait_for_lock, "install", "-y", "-qq", "chromium"],
    ):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(cmd)}` timed out"
        if done.returncode != 0:
            return f"`{' '.join(cmd)}` failed: {(done.stderr or done.stdout)[-1500:]}"
    return None if CHROMIUM.exists() else f"apt-get installed chromium but {CHROMIUM} is missing"


def require_chromium() -> Path:
    """Chromium for a browser test: installed when missing; else the test is skipped, or fails
    under CI, where the browser tests must run."""
    reason = install_chromium()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: the browser test must run)")
        pytest.skip(reason)
    return CHROMIUM


# --- dagster dev -----------------------------------------------------------------------------

ASSET_NODES = "{ assetNodes { assetKey { path } groupName } }"
# A process started in the background of a non-interactive shell (`make test &`, some CI runners)
# inherits SIGINT ignored, and so would `dagster dev`: restore the default before exec.
DEFAULT_SIGNALS_THEN_EXEC = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class DagsterDev:
    """`dagster dev` on a temporary DAGSTER_HOME, in a process group of its own: started with a
    plain `&` it inherits SIGINT ignored and then ignores SIGTERM too."""

    def __init__(
        self, root: Path, tmp: Path, dagster_yaml: Path, env: dict[str, str] | None = None
    ) -> None:
        self.root, self.tmp = root, tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home = tmp / "dagster_home"
        # It may hold runs already, made in-process against the same instance before the start.
        home.mkdir(parents=True, exist_ok=True)
        shutil.copy(dagster_yaml, home / "dagster.yaml")
        self.env = (
            {k: v for k, v in os.environ.items() if not k.endswith("_API_URL")}
            | {
                "DAGSTER_HOME": str(home),
                "WAREHOUSE_URL": f"sqlite:///{tmp / 'warehouse.db'}",
                "LAKE_URL": str(tmp / "lake"),
                "LANDING_DIR": str(tmp / "landing"),
                # As `make run` starts it: the embedded event log gets Dagster's batches.
                BATCH_SIZE_VARIABLE: str(DEFAULT_BATCH_SIZE),
            }
            | (env or {})
        )
        self.log_path = tmp / "dagster-dev.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        dagster = Path(sys.executable).with_name("dagster")  # the test's own venv
        argv = [
            str(dagster),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
        ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", DEFAULT_SIGNALS_THEN_EXEC, *argv],
                cwd=self.root,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ignored_signals(self) -> set[int]:
        """The signals `dagster dev` ignores, from /proc (empty where there is no /proc)."""
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status")
        if not status.exists():
            return set()
        mask = next(
            int(line.split()[1], 16)
            for line in status.read_text().splitlines()
            if line.startswith("SigIgn:")
        )
        return {n for n in range(1, 65) if mask >> (n - 1) & 1}

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        r = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=10
        )
        r.raise_for_status()
        body = r.json()
        assert "errors" not in body, body
        return body["data"]

    def wait_for_assets(self, expected: set[str], timeout: float) -> None:
        """Until /server_info answers and the code location serves every expected asset."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while True:
            assert self.proc.poll() is None, f"dagster dev exited:\n{self.log_tail()}"
            with suppress(httpx.TransportError, httpx.HTTPStatusError, AssertionError):
                httpx.get(f"{self.url}/server_info", timeout=2).raise_for_status()
                nodes = self.graphql(ASSET_NODES)["assetNodes"]
                seen = {"/".join(n["assetKey"]["path"]) for n in nodes}
                if expected <= seen:
                    return
            assert time.monotonic() < deadline, (
                f"code location not loaded in {timeout:.0f} s (saw {sorted(seen)}):\n"
                f"{self.log_tail()}"
            )
            time.sleep(0.5)

    def stop(self, timeout: float = 30) -> int:
        """SIGINT to the group; SIGKILL only as a last resort. The return code of `dagster dev`."""
        assert self.proc is not None
        pgid = self.proc.pid
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGINT)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise AssertionError(f"dagster dev ignored SIGINT for {timeout:.0f} s") from None
        # Its webserver, daemon and code server leave with it.
        deadline = time.monotonic() + 10
        while group_alive(pgid):
            if time.monotonic() > deadline:
                os.killpg(pgid, signal.SIGKILL)
                raise AssertionError("dagster dev exited but left processes in its group")
            time.sleep(0.1)
        return code


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def dagster_dev(
    root: Path, tmp: Path, dagster_yaml: Path, env: dict[str, str] | None = None
) -> Iterator[DagsterDev]:
    """`DagsterDev` started; `env` overrides its environment."""
    dev = DagsterDev(root, tmp, dagster_yaml, env)
    dev.start()
    assert dev.proc is not None
    try:
        yield dev
    finally:
        if dev.proc.poll() is None or group_alive(dev.proc.pid):
            with suppress(ProcessLookupError):
                os.killpg(dev.proc.pid, signal.SIGKILL)
            dev.proc.wait(timeout=10)


# --- Chromium over the DevTools protocol -----------------------------------------------------


class Page:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        # The events that arrived while waiting for answers (after e.g. `Network.enable`).
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:  # Events arrive in between; only the answer to this call matters.
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            if "method" in msg:
                self.events.append(msg)

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])


@contextmanager
def chromium_page(
    width: int, height: int, timeout: float = 30, flags: tuple[str, ...] = ()
) -> Iterator[Page]:
    """Headless Chromium with a new profile (and `flags` beside the usual ones); yields its first
    tab, sized width x height."""
    profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            *flags,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        # Chromium writes the port it chose into the profile.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, f"chromium exited with {proc.returncode}"
            assert time.monotonic() < deadline, "chromium opened no DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        while True:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=5).json()
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            assert time.monotonic() < deadline, f"chromium opened no tab: {targets}"
            time.sleep(0.1)
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
            page = Page(ws)
            page.send(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield page
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its header."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])
