"""What `run` and `demo` show a user: the few lines a user reads on the terminal, the logs in
files under LOG_DIR (or on the terminal with `--verbose`), and the banner `run` ends with."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from orchestration.cli.settings import DEV_API_KEY

# `run`'s log files, in LOG_DIR.
DAGSTER_LOG, SERVING_LOG, SOURCES_LOG = "dagster.log", "serving.log", "sample-sources.log"

Say = Callable[[str], None]


def shown(path: Path) -> str:
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
        where = shown(logs)
        lines += [
            f"Logs          {where}/{DAGSTER_LOG} (runs, steps, daemon, sensors), "
            f"{SERVING_LOG}, {SOURCES_LOG}",
            "              `make run VERBOSE=1` prints them here instead",
        ]
    lines.append("Ctrl-C stops everything.")
    return "\n".join(lines)
