"""The child processes `run` and `demo` start (the sample sources, `dg dev`, the serving API):
each in a process group of its own, waited for until it answers over HTTP, and stopped with
SIGINT (SIGKILL after a grace period)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestration.cli.console import shown
from orchestration.cli.settings import ROOT


@dataclass
class Service:
    """A child process `run` started, with what to tell a user about it."""

    name: str
    proc: subprocess.Popen[bytes]
    log: str | None = None  # where its output goes (None: the terminal)

    def poll(self) -> int | None:
        return self.proc.poll()


def wait_for_http(url: str, timeout_s: float = 20.0, service: Service | None = None) -> None:
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


def start_service(
    name: str, cmd: list[str], env: dict[str, str], log: IO[bytes] | None = None
) -> Service:
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
    return Service(name, proc, shown(Path(log.name)) if log else None)


def stop_services(services: list[Service]) -> None:
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
