"""`python -m orchestration.cli demo|run|backfill`."""

from orchestration.cli import main

main()
