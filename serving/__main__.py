"""`python -m serving [--host 127.0.0.1] [--port 8000] [--workers 1]`: the API under uvicorn.

SIGINT/SIGTERM stop it gracefully: uvicorn stops accepting, lets in-flight requests finish (up
to `SERVING_SHUTDOWN_TIMEOUT_S`), then the lifespan closes the database pool.
"""

from __future__ import annotations

import argparse

import uvicorn

from serving.core.config import get_settings
from serving.core.observability import log_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    settings = get_settings()
    uvicorn.run(
        "serving.app:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=log_config(settings.log_level),
        access_log=False,  # serving.access logs every request as JSON instead
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        server_header=False,
    )


if __name__ == "__main__":
    main()
