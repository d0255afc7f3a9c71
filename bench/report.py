"""Every benchmark's last results, rendered from `bench/results/*.json` as Markdown tables.

    .venv/bin/python bench/report.py                       # print it, write bench/results/REPORT.md
    .venv/bin/python bench/report.py --results DIR --out FILE

`make bench` runs it last. Each benchmark writes its own JSON (`bench/pipeline.py`,
`bench/backfill.py`, `bench/ingest.py`, `bench/lake.py` and `bench/partition_swap.py` always;
`bench/serving.py` with `--json`, which `make bench` passes); this script only reads them, so
the figures in the report are the measured ones. A benchmark whose JSON is missing or unreadable
is named, with the command that produces it. The targets shown are read from the benchmark
scripts' own constants where they are module constants (`MAX_VS_PLAIN`, ...), so they cannot
drift apart from the scripts' verdicts.

Needs nothing but the standard library: it runs on a results folder copied from another host.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import FIRST_PAGE_FLOOR, format_cell
from harness import ratio

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

Row = Sequence[Any]
SMALL = " _Not the default size: the figures say little about a full run._"


# -- formatting ------------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    """A table cell: thousands separators, fewer decimals the larger the number."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value != value:  # NaN
        return "?"
    if isinstance(value, int | float):
        return format_cell(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: Sequence[str], rows: Sequence[Row]) -> list[str]:
    """A Markdown table; columns holding only numbers are right-aligned."""
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows) and bool(rows)
        for i in range(len(headers))
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return lines


def verdict(value: float | None, target: float | None, at_least: bool) -> str:
    if value is None or target is None:
        return "n/a"
    met = value >= target if at_least else value <= target
    return "met" if met else "NOT MET"


def median(samples: Sequence[float]) -> float | None:
    return statistics.median(samples) if samples else None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def constants(script: str) -> dict[str, float]:
    """The numeric module constants of `bench/<script>` (its targets), read without importing
    it (the scripts import the platform, DuckDB, PostgreSQL drivers...)."""
    try:
        tree = ast.parse((BENCH / script).read_text())
    except (OSError, SyntaxError):
        return {}
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, int | float):
                for t in targets:
                    if isinstance(t, ast.Name) and t.id.isupper():
                        found[t.id] = value.value
    return found


def header(res: dict[str, Any], path: Path) -> list[str]:
    """When and on what host the results were measured."""
    when = res.get("started_at") or datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S%z (the file's time)"
    )
    cpus = res.get("cpus") or res.get("host", {}).get("cpus")
    parts = [f"measured {when}"]
    load = res.get("load_average_at_start")
    if load:
        parts.append("load average at start " + " / ".join(f"{x:.1f}" for x in load))
    if cpus:
        parts.append(f"{cpus} CPUs")
    if res.get("total_seconds"):
        parts.append(f"the benchmark took {res['total_seconds']:.0f} s")
    return ["_" + "; ".join(parts) + "._", ""]


def bullets(items: Sequence[str]) -> list[str]:
    return [f"- {item}" for item in items]


# -- the benchmarks --------------------------------------------------------------------------------
def render_pipeline(res: dict[str, Any], path: Path) -> list[str]:
    k = constants("pipeline.py")
    rows_n, csv_mb = res.get("rows"), res.get("csv_mb")
    out = header(res, path)
    size = f"One daily drop of {fmt(rows_n)} rows ({fmt(csv_mb)} MB of CSV), each variant"
    out += [size + " in a fresh process." + SMALL * (rows_n != 1_000_000), ""]
    for engine, er in res.get("engines", {}).items():
        runs = er.get("variants", {})

        def secs(v: str, runs: dict[str, Any] = runs) -> float | None:
            r = runs.get(v, {})
            return r.get("seconds") if r.get("ok") else None

        plain, naive, unaudited = secs("plain"), secs("naive"), secs("unaudited")
        rows: list[Row] = []
        for variant, r in runs.items():
            if not r.get("ok"):
                rows.append([variant, "FAILED", None, None, None, None, None, None, None])
                continue
            s = r["seconds"]
            rows.append(
                [
                    variant,
                    s,
                    round(rows_n / s) if rows_n else None,
                    r.get("peak_rss_mb"),
                    r.get("rss_increase_mb"),
                    ratio(r.get("rss_increase_mb"), csv_mb),
                    ratio(s, plain),
                    ratio(naive, s),
                    ratio(s, unaudited) if variant == "dagster" else None,
                ]
            )
        out += [f"**{engine}**", ""]
        out += table(
            [
                "variant",
                "seconds",
                "rows/s",
                "peak RSS MB",
                "+RSS MB",
                "+RSS / CSV",
                "time / plain",
                "naive / time",
                "time / unaudited",
            ],
            rows,
        )
        growth = er.get("growth")
        if growth:
            one, many = growth.get("one", {}), growth.get("many", {})
            if one.get("ok") and many.get("ok"):
                out += [
                    "",
                    f"Memory growth: {growth['partitions']} partitions of "
                    f"{fmt(growth['rows_per_partition'])} rows in one run +"
                    f"{fmt(many['rss_increase_mb'])} MB against one partition's "
                    f"+{fmt(one['rss_increase_mb'])} MB "
                    f"({fmt(ratio(many['rss_increase_mb'], one['rss_increase_mb']))}x).",
                ]
        out.append("")
    for engine, why in res.get("skipped", {}).items():
        out += [f"**{engine}**: skipped ({why}).", ""]
    out += [
        "Targets: time / plain <= "
        f"{k.get('MAX_VS_PLAIN', '?')}, naive / time >= {k.get('MIN_VS_NAIVE', '?')}, "
        f"Dagster over unaudited <= {k.get('MAX_AUDIT_COST', '?')}, +RSS / CSV <= "
        f"{k.get('MAX_RSS_PER_CSV', '?')}, growth <= {k.get('GROWTH_TOLERANCE', '?')}x. "
        "The script's verdicts:",
        "",
    ]
    out += bullets(res.get("verdicts") or ["(none recorded)"])
    return out


def render_backfill(res: dict[str, Any], path: Path) -> list[str]:
    k = constants("backfill.py")
    days, rows_n = res.get("days"), res.get("rows")
    runs = res.get("variants", {})

    def secs(v: str) -> float | None:
        r = runs.get(v, {})
        return r.get("seconds") if r.get("ok") else None

    single, plain = secs("single"), secs("plain")
    labels = {
        "single": "single run, in one process",
        "per_partition": "run per partition, in one process (est.)",
        "plain": "plain script",
    }
    rows: list[Row] = []
    for variant, r in runs.items():
        if not r.get("ok"):
            rows.append([labels.get(variant, variant), None, "FAILED", None, None, None, None])
            continue
        entries = (
            [
                ("single run, through the daemon", r["single"], None),
                ("run per partition, through the daemon (est.)", r["per_partition"], None),
            ]
            if variant == "daemon"
            else [(labels.get(variant, variant), r, r.get("peak_rss_mb"))]
        )
        for label, x, peak in entries:
            s = x["seconds"]
            rows.append(
                [
                    label,
                    x.get("runs") or None,
                    s,
                    round(rows_n / s) if rows_n else None,
                    peak,
                    ratio(s, single if variant != "daemon" else r["single"]["seconds"]),
                    ratio(s, plain),
                ]
            )
    out = header(res, path)
    out += [
        f"{fmt(days)} daily partitions of {fmt(res.get('rows_per_day'))} rows "
        f"({fmt(rows_n)} rows, {fmt(res.get('csv_mb'))} MB of CSV); run per partition "
        f"extrapolated from {fmt(res.get('sample'))} sampled runs."
        + SMALL
        * ((days, res.get("rows_per_day")) != (180, 10_000)),
        "",
    ]
    out += table(
        [
            "variant",
            "runs",
            "seconds",
            "rows/s",
            "peak RSS MB",
            "time / single run",
            "time / plain",
        ],
        rows,
    )
    out += [
        "",
        f"Targets: run per partition / single run >= "
        f"{k.get('MIN_PER_PARTITION_OVER_SINGLE', '?')}, single run / plain <= "
        f"{k.get('MAX_SINGLE_OVER_PLAIN', '?')}. The script's verdicts:",
        "",
    ]
    out += bullets(res.get("verdicts") or ["(none recorded)"])
    return out


def render_ingest(res: dict[str, Any], path: Path) -> list[str]:
    k = constants("ingest.py")
    out = header(res, path)
    out += [
        f"wrk posts batches of {fmt(res.get('batch_size'))} log records over "
        f"{fmt(res.get('concurrency'))} connections for {fmt(res.get('duration_s'))} s per "
        "endpoint, to one uvicorn worker; the floor is a bulk load of the same records with no "
        "HTTP. CPU: milliseconds per batch, the server process and the PostgreSQL processes."
        + SMALL
        * (res.get("duration_s") != 10),
        "",
    ]
    labels = {"ingest": "`POST /ingest/logs`", "orm": "ORM `add_all` + `commit`"}
    rows: list[Row] = []
    for engine, er in res.get("engines", {}).items():
        runs = er["variants"]
        for variant, r in runs.items():
            rows.append(
                [
                    engine,
                    labels.get(variant) or f"floor: {r.get('how', variant)}",
                    r["records_per_s"],
                    r.get("p50_ms"),
                    r.get("p99_ms"),
                    r.get("server_cpu_ms"),
                    r.get("db_cpu_ms"),
                    ratio(runs["ingest"]["records_per_s"], r["records_per_s"]),
                ]
            )
    out += table(
        [
            "engine",
            "variant",
            "records/s",
            "p50 ms",
            "p99 ms",
            "server CPU",
            "db CPU",
            "ingest / variant",
        ],
        rows,
    )
    seen = res.get("visibility_s")
    if seen:
        out += [
            "",
            "POST to visible in `GET /logs`: " + ", ".join(f"{fmt(s)} s" for s in seen) + ".",
        ]
    out += [
        "",
        f"Targets: `POST /ingest/logs` / ORM endpoint >= {k.get('MIN_VS_ORM', '?')}, records/s "
        f"on PostgreSQL >= {fmt(k.get('MIN_POSTGRES_RECORDS_PER_S'))}, POST to visible <= "
        f"{k.get('MAX_VISIBLE_S', '?')} s. The script's verdicts:",
        "",
    ]
    out += bullets(res.get("verdicts") or ["(none recorded)"])
    return out


SERVING_CASES = {
    "trivial": "trivial `/ping`",
    "first": "first page",
    "deep": "cursor page ~90% deep",
    "filtered": "filtered page",
    "search": "full-text search",
    "304": "304",
}


def render_serving(res: dict[str, Any], path: Path) -> list[str]:
    out = header(res, path)
    out += ["Requests/s, p99 ms in brackets (medians of the rounds).", ""]
    rows: list[Row] = []
    for engine, cases in res.items():
        if not isinstance(cases, dict):
            continue
        label = "Datasette, SQLite" if engine == "datasette" else engine
        rows.append(
            [label]
            + [
                f"{fmt(c['rps'])} ({fmt(c['p99_ms'])})" if (c := cases.get(case)) else ""
                for case in SERVING_CASES
            ]
        )
    out += table(["engine", *SERVING_CASES.values()], rows)
    # The targets bench/serving.py prints (its `report`), computed from the same figures.
    checks: list[Row] = []
    for engine, r in res.items():
        if engine == "datasette" or not isinstance(r, dict):
            continue
        try:
            first_floor = FIRST_PAGE_FLOOR[engine]
            deep = r["deep"]["p50_ms"] / r["first"]["p50_ms"]
            first = r["first"]["rps"] / r["trivial"]["rps"]
            cached = r["304"]["rps"] / r["trivial"]["rps"]
            worst = max(c["p99_ms"] for c in r.values())
        except (KeyError, ZeroDivisionError, TypeError):
            continue
        checks += [
            [engine, "deep page p50 / first page p50 <= 1.3", deep, verdict(deep, 1.3, False)],
            [
                engine,
                f"first page / trivial req/s >= {first_floor}",
                first,
                verdict(first, first_floor, True),
            ],
            [engine, "304 / trivial req/s >= 0.8", cached, verdict(cached, 0.8, True)],
            [engine, "worst p99 ms <= 50", worst, verdict(worst, 50, False)],
        ]
    d, s = res.get("datasette"), res.get("sqlite")
    if isinstance(d, dict) and isinstance(s, dict):
        for case, what in (("first", "first page"), ("deep", "deep page")):
            if case in d and case in s and d[case]["rps"]:
                x = s[case]["rps"] / d[case]["rps"]
                checks.append(["sqlite", f"{what} / Datasette's >= 5", x, verdict(x, 5, True)])
    if checks:
        out += ["", *table(["engine", "target", "measured", "verdict"], checks)]
    return out


def render_lake(res: dict[str, Any], path: Path) -> list[str]:
    k = constants("lake.py")
    target = k.get("TARGET_VS_PLAIN")
    pub, query = res.get("publish", {}), res.get("query", {})
    out = header(res, path)
    rows: list[Row] = []
    for label in ("large", "small"):
        r = pub.get(label)
        if not r:
            continue
        delta, plain = median(r["seconds"]["delta"]), median(r["seconds"]["plain"])
        rows.append(
            [
                f"{fmt(r['rows'])} rows",
                r["repeat"],
                ms(delta),
                r["rows"] / delta if delta else None,
                ms(plain),
                r["rows"] / plain if plain else None,
                ratio(plain, delta),
            ]
        )
    if rows:
        out += ["Publishing a sales day into the Delta table (median):", ""]
        out += table(
            ["day", "runs", "Delta ms", "Delta rows/s", "plain ms", "plain rows/s", "Delta/plain"],
            rows,
        )
        large = rows[0][-1]
        out += [
            "",
            f"Target: Delta / plain >= {target if target is not None else '?'} on the large "
            f"day: {verdict(large, target, True)}.",
        ]
    large = pub.get("large", {}).get("seconds", {})
    extra = {name: s for name, s in large.items() if name not in ("delta", "plain")}
    if extra:
        plain = median(large["plain"])
        out += ["", "Where a Delta write's time goes (`--breakdown`, the large day):", ""]
        out += table(
            ["writer", "median ms", "vs plain"],
            [[name.strip(), ms(median(s)), ratio(plain, median(s))] for name, s in extra.items()],
        )
    if query.get("seconds"):
        lake = median(next(iter(query["seconds"].values())))
        out += [
            "",
            f"Revenue per day and product over {fmt(query.get('days'))} days "
            f"({fmt(query.get('rows'))} rows, {fmt(query.get('groups'))} groups):",
            "",
        ]
        out += table(
            ["engine", "first ms", "median ms", "vs lake"],
            [
                [
                    name,
                    ms(query["first_seconds"].get(name)),
                    ms(median(s)),
                    ratio(median(s), lake),
                ]
                for name, s in query["seconds"].items()
            ],
        )
    args = res.get("args", {})
    if args.get("quick"):
        out += ["", "_A `--quick` smoke run: its figures say little about a full run._"]
    return out


def render_partition_swap(res: dict[str, Any], path: Path) -> list[str]:
    rows_n, seconds = res.get("rows"), res.get("seconds", {})
    base = median(seconds.get("delete + insert", []))
    out = header(res, path)
    out += [f"One day of {fmt(rows_n)} rows replaced beside another, PostgreSQL (median):", ""]
    out += table(
        ["variant", "seconds", "rows/s", "vs delete + insert"],
        [
            [
                name,
                median(s),
                round(rows_n / median(s)) if rows_n and median(s) else None,
                ratio(median(s), base),
            ]
            for name, s in seconds.items()
        ],
    )
    return out


Renderer = Callable[[dict[str, Any], Path], list[str]]
# stem of the JSON, title, the command that writes it, renderer.
BENCHMARKS: list[tuple[str, str, str, Renderer]] = [
    (
        "pipeline",
        "Pipeline: a daily drop through the sales assets",
        ".venv/bin/python bench/pipeline.py",
        render_pipeline,
    ),
    (
        "backfill",
        "Backfill: many daily partitions as one run",
        ".venv/bin/python bench/backfill.py",
        render_backfill,
    ),
    (
        "serving",
        "Serving API: reads under load",
        ".venv/bin/python bench/serving.py --json bench/results/serving.json",
        render_serving,
    ),
    (
        "ingest",
        "Push ingest: `POST /ingest/logs`",
        ".venv/bin/python bench/ingest.py",
        render_ingest,
    ),
    (
        "lake",
        "Lake: publishing a day as Delta, querying 30 days",
        ".venv/bin/python bench/lake.py",
        render_lake,
    ),
    (
        "partition_swap",
        "PostgreSQL partition swap (not in `make bench`)",
        ".venv/bin/python bench/partition_swap.py",
        render_partition_swap,
    ),
]


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    try:
        return str(path.resolve().relative_to(BENCH.parent))
    except ValueError:
        return str(path)


def render(results: Path) -> tuple[str, list[str]]:
    """The report, and the benchmarks it has no results of."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmark report",
        "",
        f"Rendered {now} by `bench/report.py` from `{shown(results)}/*.json`.",
        "What each benchmark measures and how to read its ratios: docs/benchmarks.md.",
    ]
    missing = []
    known = set()
    for stem, title, command, renderer in BENCHMARKS:
        path = results / f"{stem}.json"
        known.add(path.name)
        out += ["", f"## {title}", ""]
        if not path.exists():
            also = " (or `make bench`)" if "make bench" not in title else ""
            out.append(f"_Missing: no `{path.name}`. Run `{command}`{also}._")
            missing.append(stem)
            continue
        try:
            res = json.loads(path.read_text())
            if not isinstance(res, dict):
                raise ValueError("not a JSON object")
            out += renderer(res, path)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            out.append(f"_`{path.name}` could not be rendered ({type(exc).__name__}: {exc})._")
            missing.append(stem)
    others = sorted(p.name for p in results.glob("*.json") if p.name not in known)
    if others:
        out += ["", "## Other results", "", "Not rendered: " + ", ".join(others) + "."]
    return "\n".join(out) + "\n", missing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the *.json results")
    ap.add_argument("--out", type=Path, help="the Markdown file (default: RESULTS/REPORT.md)")
    args = ap.parse_args()
    text, missing = render(args.results)
    sys.stdout.write(text)
    out = args.out or args.results / "REPORT.md"
    if args.results.is_dir() or args.out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        note = f"; no results of: {', '.join(missing)}" if missing else ""
        print(f"written: {out}{note}", file=sys.stderr)


if __name__ == "__main__":
    main()
