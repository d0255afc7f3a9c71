"""`demo`: the embedded platform brought up headless, then each table's rows in the warehouse and
the lake printed."""

from __future__ import annotations

from core.warehouse import open_warehouse
from orchestration.cli.console import SOURCES_LOG, Console, shown
from orchestration.cli.platform import embedded_platform, lake_counts, table_counts
from orchestration.cli.settings import DEFAULT_LOG_DIR, CliSettings


def print_tables(settings: CliSettings) -> None:
    engine = open_warehouse(settings.warehouse_url).engine
    lake = lake_counts()
    print(f"\n{'table':<18} {'warehouse':>9} {'lake':>6}   ({engine}; lake: Delta tables)")
    for name, rows in table_counts(settings).items():
        print(f"{name:<18} {rows:>9} {lake.get(name, '-'):>6}")


def demo(settings: CliSettings) -> None:
    """Bring the platform up headless, a line per step on the terminal (Dagster's step logs go
    to LOG_DIR, as under `run`), then print the tables."""
    console = Console(settings.log_dir or DEFAULT_LOG_DIR)
    console.say(f"materializing everything; the logs go to {shown(console.log_dir)}/")
    with console.quiet(), embedded_platform(settings, console.say, console.log(SOURCES_LOG)):
        pass
    print_tables(settings)
