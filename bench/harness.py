"""The scaffolding the benchmarks share: a throwaway PostgreSQL database, the command line of a
benchmark whose variants run in child processes, a variant's run in a fresh interpreter, the
Dagster run's step timings, and the results file with the host's load around the run.

A variant runs in a child process so that its peak RSS is its own: the parent writes its spec
(JSON) and starts `script --child spec.json`; the child runs the variant, measures itself and
writes its result where the spec says (`finish_child`); the parent reads it back (`run_child`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import RESULTS_DIR, StageTimer, peak_rss_mb

PG_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/postgres")


# -- a throwaway PostgreSQL database ----------------------------------------------------------
def postgres_unreachable() -> str | None:
    """Why `PG_ADMIN_URL` does not answer, or None when it does."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:
        return f"{PG_ADMIN_URL} unreachable: {str(exc).strip() or type(exc).__name__}"


def fresh_postgres(name: str) -> str:
    """The URL of database `name`, dropped and created empty."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the command line -------------------------------------------------------------------------
def variants_parser(
    doc: str, variants: Sequence[str], *, quick: str, profile: str
) -> argparse.ArgumentParser:
    """The options every variant benchmark has: `--variants`, `--quick`, `--profile`, `--keep`
    and the hidden `--child` its children are started with."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--variants", default=",".join(variants), help=",".join(variants))
    ap.add_argument("--quick", action="store_true", help=quick)
    ap.add_argument("--profile", action="store_true", help=profile)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    return ap


def chosen_variants(value: str, variants: Sequence[str]) -> list[str]:
    """The variants named in `value` (comma-separated), in the benchmark's own order."""
    chosen = {v.strip() for v in value.split(",") if v.strip()}
    if chosen - set(variants):
        raise SystemExit(f"unknown variants {sorted(chosen - set(variants))}: {list(variants)}")
    return [v for v in variants if v in chosen]


# -- variants in child processes --------------------------------------------------------------
def run_child(script: Path, spec: dict[str, Any], spec_path: Path, timeout_s: float) -> dict:
    """Run `script --child spec_path` in a fresh interpreter and return the JSON it wrote.

    The child writes its result to `spec["result_path"]`; its output is passed through when it
    fails, so the reason shows.
    """
    spec_path.write_text(json.dumps(spec))
    result_path = Path(spec["result_path"])
    result_path.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, str(script), "--child", str(spec_path)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if proc.returncode != 0 or not result_path.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        return {"ok": False, "error": f"child exited {proc.returncode}:\n{tail}"}
    return json.loads(result_path.read_text())


def run_variant(
    script: Path,
    spec: dict[str, Any],
    timeout_s: float,
    label: str,
    summary: Callable[[dict[str, Any]], str],
) -> dict[str, Any]:
    """`run_child` in the folder of `spec["result_path"]`, with a line of progress: `label`,
    then `summary(result)` or the failure's reason."""
    print(f"  running {label} ...", end="", flush=True)
    result = run_child(script, spec, Path(spec["result_path"]).with_name("spec.json"), timeout_s)
    if result.get("ok"):
        print(f" {summary(result)}", flush=True)
    else:
        print(" FAILED", flush=True)
        print("    " + result.get("error", "?").replace("\n", "\n    "), flush=True)
    return result


def child_main(
    spec_path: str,
    run: Callable[[dict[str, Any]], dict[str, Any]],
    verify: Callable[[dict[str, Any]], Any],
) -> None:
    """A child's whole life: read its spec, run the variant, hand the result to the parent."""
    spec = json.loads(Path(spec_path).read_text())
    finish_child(spec, run(spec), verify)


def finish_child(
    spec: dict[str, Any], result: dict[str, Any], verify: Callable[[dict[str, Any]], Any]
) -> None:
    """Add peak memory and the output check to a child's result and hand it to the parent."""
    result.setdefault("ok", True)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["rss_increase_mb"] = round(result["peak_rss_mb"] - result["baseline_rss_mb"], 1)
    if result.get("ok"):
        result["check"] = verify(spec)
    Path(spec["result_path"]).write_text(json.dumps(result))


# -- inside a Dagster variant -----------------------------------------------------------------
def time_methods(timer: StageTimer, patches: Sequence[tuple[type, str, Any]]) -> None:
    """Wrap each (class, method, label) in `timer`, on the class and on the subclasses that
    define it themselves; behaviour is unchanged."""
    for base, name, label in patches:
        for cls in (base, *base.__subclasses__()):
            if name in vars(cls):
                setattr(cls, name, timer.wrap(vars(cls)[name], label))


def step_seconds(result: Any) -> tuple[dict[str, float], str | None]:
    """A Dagster run's seconds per successful step (its STEP_SUCCESS durations), and the
    failed steps' errors, if any."""
    from dagster import DagsterEventType

    steps: dict[str, float] = {}
    errors = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            steps[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 3)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            errors.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()}")
    if result.success:
        return steps, None
    return steps, "; ".join(errors) or "run failed"


# -- results ----------------------------------------------------------------------------------
def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def stage_list(stages: dict[str, float]) -> str:
    """`name seconds, ...`, the costliest first."""
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(stages.items(), key=lambda kv: -kv[1]))


def new_results(**fields: Any) -> dict[str, Any]:
    """A benchmark's results, opened with its parameters, the host and its load now."""
    return {
        **fields,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(),
    }


def save_results(name: str, results: dict[str, Any], lines: list[str], started: float) -> Path:
    """Close `results` with the elapsed time and the host's load, print `lines` and the load,
    and write `bench/results/<name>.json`."""
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["load_average_at_end"] = os.getloadavg()
    load = ", ".join(f"{x:.1f}" for x in results["load_average_at_start"])
    lines.append(
        f"\nHost load average (1/5/15 min) at start: {load}; at end: "
        + ", ".join(f"{x:.1f}" for x in results["load_average_at_end"])
        + f" on {os.cpu_count()} CPUs (other work on the host slows every variant alike)"
    )
    print("\n".join(lines))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{name}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nresults: {out} (whole benchmark {results['total_seconds']:.0f} s)")
    return out
