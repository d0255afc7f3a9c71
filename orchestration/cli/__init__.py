"""`python -m orchestration.cli demo|run|backfill`: the embedded platform in one command.

`demo` materializes every asset from the sources (the bundled stand-ins unless REST_API_URL /
GRAPHQL_API_URL point elsewhere; sample sales drops on the days before today in an empty landing
folder) into the embedded warehouse and lake, then prints each table's row count. The partitions
begin where the drops do, unless SALES_START_DATE says otherwise. `run` does the same, then
serves the Dagster UI (`dg dev`) and the serving API until Ctrl-C; its terminal shows a few
progress lines and ends with a banner of addresses, while the step, daemon and API logs go to
files under LOG_DIR (default data/logs; `--verbose` prints them instead). `backfill --from D1
--to D2` backfills the sales days through the running webserver, as one run.
"""

from __future__ import annotations

import argparse

# One module per command (`demo`, `run`, `backfill`); beside them `settings` (what the commands
# read of the environment), `console` (what a user reads, the logs, the banner), `processes`
# (the child processes), `landing` (the sample drops), `home` (DAGSTER_HOME and the partitions'
# start) and `platform` (the platform brought up and materialized). The docstring is `--help`'s.
from orchestration.cli import backfill, demo, run
from orchestration.cli.settings import CliSettings


def main(argv: list[str] | None = None) -> None:
    settings = CliSettings()
    parser = argparse.ArgumentParser(prog="python -m orchestration.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialize everything headless and print the tables")
    serve_ui = sub.add_parser("run", help="materialize everything, then serve the UI until Ctrl-C")
    serve_ui.add_argument(
        "--verbose",
        action="store_true",
        help="print the logs (steps, daemon, API) here instead of in files under LOG_DIR",
    )
    fill = sub.add_parser("backfill", help="backfill the sales days FROM..TO in one run")
    fill.add_argument("--from", dest="first", required=True, help="YYYY-MM-DD")
    fill.add_argument("--to", dest="last", required=True, help="YYYY-MM-DD")
    ui = f"http://127.0.0.1:{settings.ui_port}"
    fill.add_argument("--url", default=ui, help="the webserver")
    args = parser.parse_args(argv)
    if args.command == "backfill":
        backfill.backfill(args.first, args.last, args.url)
    elif args.command == "run":
        run.run(settings, args.verbose)
    else:
        demo.demo(settings)
