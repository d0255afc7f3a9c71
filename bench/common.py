"""Helpers shared by the benchmarks: per-process memory, timers, tables, the sales drops' paths,
servers under test and the load generator (`harness` runs the variants and writes the results).

A variant measures its own memory: its resident set right after its imports (the interpreter
baseline) and its peak (`ru_maxrss`) at the end; the increase is what the work itself cost.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from functools import wraps
from pathlib import Path
from typing import Any

MB = 1 << 20
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# The serving read path's floor: its first page against the same app's trivial endpoint, in
# requests/s (docs/decisions/serving-read-path.md).
FIRST_PAGE_FLOOR = {"sqlite": 0.6, "postgresql": 0.35}


def current_rss_mb() -> float:
    """This process's resident set now, in MiB (from /proc, no psutil needed)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MiB (`ru_maxrss` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class StageTimer:
    """Accumulates wall time per named stage; `wrap` times every call of a function."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start
            self.calls[name] += 1

    def wrap(self, fn: Callable[..., Any], name: str | Callable[..., str]) -> Callable[..., Any]:
        """`fn`, timed under `name` (or under `name(*args, **kwargs)`)."""

        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            label = name(*args, **kwargs) if callable(name) else name
            with self.stage(label):
                return fn(*args, **kwargs)

        return timed

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[format_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] in (None, "") for row in rows)
        for i in range(len(headers))
    ]

    def line(r: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric, strict=True)
        )

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def format_cell(value: Any) -> str:
    """A number for a table: thousands separators, fewer decimals the larger it is."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def raw_relpath(day: str) -> str:
    """A day's drop in the lake's raw zone (as `raw_sales` writes it)."""
    return f"raw/sales/order_date={day}/sales_{day}.csv"


def export_relpath(day: str, ext: str) -> str:
    """A day's published export (as `sales_orders_export` writes it)."""
    return f"{ext}/sales_orders/order_date={day}/part-0.{ext}"


def write_sales_drops(path: Path, start: date, days: int, rows: int) -> tuple[list[str], float]:
    """`days` daily drops from `start`, `rows` rows in all (`sample_sources.sales`, the defects
    the cleaning rules expect included): the days, ISO, and the CSVs' size in MiB."""
    from sample_sources.sales import write_drops

    files = write_drops(path, start, days, rows)
    dates = [(start + timedelta(days=i)).isoformat() for i in range(days)]
    return dates, sum(f.stat().st_size for f in files) / MB


# The sales tables and the column that holds a row's day (the partition column).
SALES_DAY_COLUMNS = {
    "sales_orders": "order_date",
    "sales_rejects": "partition_date",
    "sales_daily": "day",
}


def delete_sales_days(url: str, days: list[str]) -> None:
    """Delete `days` from the sales tables and their ledger rows."""
    conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None, timeout=60)
    try:
        marks = ", ".join("?" * len(days))
        conn.execute("BEGIN IMMEDIATE")
        for table, column in SALES_DAY_COLUMNS.items():
            conn.execute(f'DELETE FROM "{table}" WHERE "{column}" IN ({marks})', days)
        conn.execute(
            f"DELETE FROM partition_ledger WHERE asset IN (?, ?, ?) AND partition IN ({marks})",
            [*SALES_DAY_COLUMNS, *days],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def truncate_sales_from(url: str, day: str) -> None:
    """Delete `day` and every later day from the sales tables and their ledger rows."""
    conn = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None, timeout=60)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        conn.execute("BEGIN IMMEDIATE")
        for table, column in SALES_DAY_COLUMNS.items():
            if table in tables:
                conn.execute(f'DELETE FROM "{table}" WHERE "{column}" >= ?', [day])
        if "partition_ledger" in tables:
            conn.execute(
                "DELETE FROM partition_ledger WHERE asset IN (?, ?, ?) AND partition >= ?",
                [*SALES_DAY_COLUMNS, day],
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def profiled(fn: Callable[[], Any], stem: str | None, top: int = 40) -> Any:
    """Run `fn()`, under cProfile when `stem` is given; the stats go to `bench/results/<stem>`."""
    if stem is None:
        return fn()
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    try:
        return prof.runcall(fn)
    finally:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / stem
        prof.dump_stats(f"{path}.prof")
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top // 2)
        Path(f"{path}.txt").write_text(out.getvalue())


# -- servers under test ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpus: Sequence[int] | None) -> list[str]:
    """`cmd` restricted to `cpus` (through `taskset`), or as it is when `cpus` is None."""
    if cpus is None:
        return cmd
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("taskset (util-linux) is needed to pin processes; or pass --no-pin")
    return [taskset, "-c", ",".join(map(str, cpus)), *cmd]


def start_process(cmd: list[str], env: dict[str, str], probe: str) -> subprocess.Popen[bytes]:
    """Start a server in its own process group and wait until `probe` answers below 500."""
    import httpx

    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(probe, timeout=2).status_code < 500:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"{cmd[:3]} exited with {proc.returncode}")
        time.sleep(0.2)
    stop_process(proc)
    raise SystemExit(f"{probe} did not answer")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# -- wrk: the load generator (C, so the client costs the server little CPU) ----------------------
@dataclass
class WrkResult:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk with apt-get ...")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is missing: apt-get install wrk")
    return path


def _wrk_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def run_wrk(
    url: str,
    connections: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    cpus: Sequence[int] | None = None,
) -> WrkResult:
    """wrk against `url` after a 2 s warm-up (pools filled, statements prepared); on `cpus`
    only, with a thread for each, if given (else two threads, anywhere)."""
    threads = len(cpus) if cpus is not None else 2
    cmd = [ensure_wrk(), f"-t{threads}", f"-c{connections}", "--latency", "--timeout", "60s"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd = pinned(cmd, cpus)
    subprocess.run([*cmd, "-d2s", url], capture_output=True)
    out = subprocess.run(
        [*cmd, f"-d{duration_s}s", url], capture_output=True, text=True, check=True
    ).stdout
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors:.*", out)
    if sock:
        errors += sum(int(n) for n in re.findall(r"\d+", sock.group(0)))
    return WrkResult(
        requests=int(re.search(r"(\d+) requests in", out).group(1)),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        p50_ms=_wrk_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        p99_ms=_wrk_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        errors=errors,
    )
