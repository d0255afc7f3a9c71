"""`make sql`: the DuckDB shell over the lake, with the warehouse attached read-only.

    python -m orchestration.lake_sql                  # interactive shell
    python -m orchestration.lake_sql -c "SELECT ..."  # run the SQL, print the result, exit

Each Delta table of the lake (`<LAKE_URL>/delta/<name>`) is a view of the same name, and the
warehouse (`WAREHOUSE_URL`, SQLite or PostgreSQL) is the catalog `warehouse`, so a query can join
`sales_orders` (the lake) with `warehouse.sales_orders`. The extensions come from the pinned
`duckdb-extension-*` packages and are loaded by path: nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from core.sql import quote
from core.warehouse import PostgresWarehouse, SQLiteWarehouse, open_warehouse
from orchestration.resources import resources_from_env
from orchestration.storage.delta import DeltaLake, sql_literal

# The extensions, by the `duckdb-extension-<name>` package that ships each, with the name the
# extension gives itself: `LOAD '<path>'` looks for the entry point named after the file, and the
# packages name the SQLite and PostgreSQL scanners after their aliases.
EXTENSIONS = {
    "delta": "delta",
    "httpfs": "httpfs",
    "aws": "aws",
    "sqlite": "sqlite_scanner",
    "postgres": "postgres_scanner",
}
WAREHOUSE_CATALOG = "warehouse"
NO_LAKE_EXIT = 2
OUTPUT_MODES = ("box", "csv", "json", "jsonlines", "line", "list", "markdown", "table")


def extension_files(folder: Path) -> dict[str, Path]:
    """Link each packaged extension into `folder` under its own name; returns the links by
    package name (`{"sqlite": <folder>/sqlite_scanner.duckdb_extension, ...}`)."""
    version = importlib.metadata.version("duckdb")
    links = {}
    for package, name in EXTENSIONS.items():
        spec = importlib.util.find_spec(f"duckdb_extension_{package}")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"the package duckdb-extension-{package} is not installed")
        base = Path(next(iter(spec.submodule_search_locations)))
        link = folder / f"{name}.duckdb_extension"
        link.symlink_to(base / "extensions" / f"v{version}" / f"{package}.duckdb_extension")
        links[package] = link
    return links


def s3_secret_sql(lake: DeltaLake) -> str:
    """The S3 secret for an `s3://` lake: credentials from the AWS credential chain (the AWS_*
    variables first, then profiles and instance roles), region and endpoint as the lake's own
    writer uses them (`DeltaLake.storage_options`)."""
    options = [("TYPE", "s3"), ("PROVIDER", "credential_chain")]
    region = lake.storage_options.get("AWS_REGION")
    if region:
        options.append(("REGION", sql_literal(region)))
    endpoint = lake.storage_options.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint)
        options += [
            ("ENDPOINT", sql_literal(parts.netloc or parts.path)),
            ("URL_STYLE", "'path'"),
            ("USE_SSL", "false" if parts.scheme == "http" else "true"),
        ]
    return f"CREATE SECRET lake_s3 ({', '.join(f'{k} {v}' for k, v in options)});"


def warehouse_source(warehouse_url: str) -> tuple[str, str]:
    """The DuckDB scanner of the warehouse (`sqlite` or `postgres`) and what it attaches: the
    SQLite file's absolute path, or the PostgreSQL connection string."""
    warehouse = open_warehouse(warehouse_url)
    if isinstance(warehouse, SQLiteWarehouse):
        return "sqlite", warehouse.path.absolute().as_posix()
    if isinstance(warehouse, PostgresWarehouse):
        return "postgres", warehouse.dsn
    raise ValueError(f"no DuckDB scanner for the warehouse {shown(warehouse_url)}")


def setup_sql(
    lake: DeltaLake,
    tables: Sequence[str],
    warehouse_url: str | None,
    extensions: Mapping[str, Path],
) -> str:
    """The statements that make a DuckDB session see the lake and the warehouse: load the
    extensions by path, create the S3 secret (an `s3://` lake), attach the warehouse (when
    `warehouse_url` is given), and create one view per lake table. Runs as a script the shell
    reads first and as one `execute` of DuckDB's Python API alike."""
    source = warehouse_source(warehouse_url) if warehouse_url else None
    needed = ["delta"] + (["httpfs", "aws"] if lake.is_s3 else []) + ([source[0]] if source else [])
    statements = [f"LOAD {sql_literal(extensions[name].as_posix())};" for name in needed]
    if lake.is_s3:
        statements.append(s3_secret_sql(lake))
    if source:
        kind, target = source
        statements.append(
            f"ATTACH {sql_literal(target)} AS {WAREHOUSE_CATALOG} (TYPE {kind}, READ_ONLY);"
        )
    statements += [
        f"CREATE VIEW {quote(name)} AS SELECT * FROM delta_scan({sql_literal(lake.uri(name))});"
        for name in tables
    ]
    return "\n".join(statements) + "\n"


def shown(url: str) -> str:
    """A URL to print: its password masked."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def banner(lake: DeltaLake, tables: Sequence[str], warehouse_url: str | None) -> str:
    """What the interactive shell sees: the views and the attached warehouse."""
    lines = [
        f"Lake {lake.root}/delta: {len(tables)} Delta table(s) as views: {', '.join(tables)}",
        f"Warehouse {shown(warehouse_url)} attached read-only as `{WAREHOUSE_CATALOG}` "
        f"(e.g. SELECT count(*) FROM {WAREHOUSE_CATALOG}.sales_orders)"
        if warehouse_url
        else "No warehouse attached: its SQLite file does not exist yet.",
        "`.tables` lists them all, `.quit` leaves.",
    ]
    return "\n".join(lines)


def duckdb_binary() -> Path:
    """The DuckDB shell of the `duckdb-cli` package. The venv's `duckdb` script runs it under a
    Python parent that Ctrl-C kills, taking the shell with it, so it is run directly; that
    script (beside the interpreter) is the fallback."""
    spec = importlib.util.find_spec("duckdb_cli")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "duckdb"
        if binary.is_file():
            return binary
    return Path(sys.executable).parent / "duckdb"


def run_shell(command: list[str]) -> int:
    """Run the shell in the foreground. Ctrl-C belongs to the shell (it cancels the running
    query), so meanwhile it does nothing here."""
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        return subprocess.run(command, check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shell (or one query) on the lake and warehouse the environment names; returns
    the shell's exit code, or NO_LAKE_EXIT when the lake holds no table yet."""
    parser = argparse.ArgumentParser(
        prog="python -m orchestration.lake_sql",
        description="DuckDB over the lake's Delta tables, with the warehouse attached read-only.",
    )
    parser.add_argument("-c", dest="sql", metavar="SQL", help="run SQL, print the result, exit")
    parser.add_argument("--mode", choices=OUTPUT_MODES, help="output format (DuckDB's -MODE)")
    args = parser.parse_args(argv)

    resources = resources_from_env()
    lake = resources["lake"].process_config_and_initialize().tables()
    url: str = resources["warehouse"].process_config_and_initialize().url
    tables = lake.table_names()
    if not tables:
        print(
            f"No Delta tables under {lake.root}/delta: run `make demo` or `make run` first.",
            file=sys.stderr,
        )
        return NO_LAKE_EXIT
    # A SQLite warehouse not written yet has no file to attach.
    kind, target = warehouse_source(url)
    warehouse_url = None if kind == "sqlite" and not Path(target).is_file() else url

    with tempfile.TemporaryDirectory(prefix="lake_sql_") as tmp:
        folder = Path(tmp)
        script = folder / "init.sql"
        setup = setup_sql(lake, tables, warehouse_url, extension_files(folder))
        # The setup's own results (the secret's `Success`) are not shown; errors still are.
        # `.read` rather than `-init`, which announces its script on stderr, in colour.
        script.write_text(f".output /dev/null\n{setup}.output\n")
        command = [str(duckdb_binary()), "-cmd", f".read {script}"]
        command += [f"-{args.mode}"] if args.mode else []
        if args.sql is None:
            print(banner(lake, tables, warehouse_url), flush=True)
        else:
            command += ["-c", args.sql]
        return run_shell(command)


if __name__ == "__main__":
    sys.exit(main())
