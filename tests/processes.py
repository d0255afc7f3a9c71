"""Helpers for tests that start real processes on loopback."""

import socket
import time

import httpx


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
