"""Command line: ``python -m sample_sources {serve,generate-sales}``."""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from types import FrameType

from sample_sources import sales


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {value!r}") from None


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {value}")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser for both subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m sample_sources", description="Offline stand-ins for public data sources."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve REST, GraphQL and /_faults over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=_non_negative, default=8100, help="port (0 = any free)")

    generate = commands.add_parser("generate-sales", help="write daily sales CSV drops")
    generate.add_argument("--landing-dir", type=Path, default=Path("data/landing"))
    generate.add_argument("--start", type=_date, default=date(2024, 3, 1), help="first day")
    generate.add_argument("--days", type=_positive, default=5)
    generate.add_argument("--rows", type=_non_negative, default=5200, help="rows over all days")
    generate.add_argument("--seed", type=_non_negative, default=42)
    return parser


def serve(host: str, port: int) -> None:
    """Run the server in the foreground until SIGINT/SIGTERM, then exit cleanly (status 0)."""
    import uvicorn

    from sample_sources.server import base_url, bind_socket, create_app

    class _Server(uvicorn.Server):
        """uvicorn re-raises a caught signal after shutdown; we just stop (a 2nd one forces)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            def handle(signum: int, _frame: FrameType | None) -> None:
                if self.should_exit:
                    self.force_exit = True
                self.should_exit = True

            previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    sock = bind_socket(host, port)
    url = base_url(host, sock.getsockname()[1])
    print(f"REST:    {url}/users  {url}/posts  {url}/todos  {url}/comments", flush=True)
    print(f"GraphQL: {url}/graphql", flush=True)
    print(f"Faults:  {url}/_faults   Health: {url}/_health", flush=True)
    config = uvicorn.Config(create_app(), log_level="warning", lifespan="off")
    try:
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
    print("stopped", flush=True)


def generate_sales(landing_dir: Path, start: date, days: int, rows: int, seed: int) -> None:
    """Write the drops and print one summary line per file."""
    for drop in sales.write_drops_with_stats(landing_dir, start, days, rows, seed):
        s = drop.stats
        print(
            f"{drop.path}  rows={s.rows} duplicates={s.duplicates} "
            f"missing_quantity={s.missing_quantity} invalid_dates={s.invalid_dates} "
            f"whitespace={s.whitespace} malformed={s.malformed}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port)
    else:
        generate_sales(args.landing_dir, args.start, args.days, args.rows, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
