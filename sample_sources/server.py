"""The sample-sources HTTP app and a helper to run it on a loopback port in a thread.

>>> with serve_in_thread() as server:
...     httpx.get(f"{server.url}/users").json()
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from sample_sources import graphql_api, rest
from sample_sources.faults import FaultController, FaultInjectionMiddleware


def create_app(controller: FaultController | None = None) -> FastAPI:
    """Build the app: REST (``/users``, ``/posts``, ``/todos``, ``/comments``), ``/graphql``,
    ``/_faults``, ``/_health``.

    ``controller`` holds the fault switches; a fresh healthy one is made if omitted. It is
    also reachable as ``app.state.faults``.
    """
    app = FastAPI(
        title="sample-sources",
        description="Offline stand-ins for JSONPlaceholder and the countries GraphQL API.",
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(rest.create_router())
    app.include_router(graphql_api.create_router())

    @app.get("/_health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    controller = controller or FaultController()
    app.state.faults = controller
    app.add_middleware(FaultInjectionMiddleware, controller=controller)
    return app


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """Bind a listening TCP socket (``port=0`` picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def base_url(host: str, port: int) -> str:
    """``http://host:port``, bracketing IPv6 literals."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class RunningServer:
    """A uvicorn server running in a daemon thread; use as a context manager.

    Attributes:
        url: base URL, e.g. ``http://127.0.0.1:54321`` (REST routes hang off it).
        graphql_url: ``{url}/graphql``.
        app: the FastAPI app being served.
    """

    def __init__(self, app: FastAPI, sock: socket.socket, startup_timeout_s: float = 10.0) -> None:
        self.app = app
        self._socket = sock
        host, port = sock.getsockname()[:2]
        self.host: str = host
        self.port: int = port
        self.url = base_url(host, port)
        self.graphql_url = f"{self.url}/graphql"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"sample-sources:{port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                sock.close()
                raise RuntimeError("sample-sources server failed to start")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"sample-sources server not up after {startup_timeout_s}s")
            time.sleep(0.005)

    @property
    def faults(self) -> FaultController:
        """The fault controller (same state as ``{url}/_faults``)."""
        return self.app.state.faults

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask uvicorn to exit, wait for the thread, close the socket. Idempotent."""
        self._server.should_exit = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():  # stuck connections: stop waiting for them
                self._server.force_exit = True
                self._thread.join(timeout_s)
        self._socket.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer(url={self.url!r})"


def serve_in_thread(
    host: str = "127.0.0.1", port: int = 0, app: FastAPI | None = None
) -> RunningServer:
    """Start the sample sources on ``host:port`` (0 = free port) and wait until they accept."""
    return RunningServer(app or create_app(), bind_socket(host, port))
