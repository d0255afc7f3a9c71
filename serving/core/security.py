"""API keys and per-key rate limits, in one pure ASGI middleware in front of every route.

Write endpoints always need a key (their `ApiKeyDep` also puts it in the OpenAPI spec);
`SERVING_READ_REQUIRES_KEY` extends that to every read but the probes and the docs. Each key
gets a token bucket of `SERVING_RATE_LIMIT_PER_S` requests a second (bursts up to
`SERVING_RATE_LIMIT_BURST`); past it the answer is a 429 with `Retry-After`. Keys are compared
in constant time and never logged: the buckets are keyed by a digest.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from serving.core.errors import error_response

# Open even when reads need a key: liveness and readiness probes, metrics, the docs.
PUBLIC_PATHS = frozenset(
    {"/", "/ping", "/health", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc",
     "/openapi.json"}
)  # fmt: skip
# Where the scripts and styles of /docs and /redoc are served (serving.docs_ui): open too.
DOCS_ASSETS = "/docs-assets"
PUBLIC_PREFIX = DOCS_ASSETS + "/"


class KeyRing:
    """The accepted keys; `match` compares a candidate with each in constant time."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys if k]

    def __bool__(self) -> bool:
        return bool(self._keys)

    def match(self, candidate: str | bytes | None) -> bool:
        if candidate is None:
            return False
        raw = candidate.encode() if isinstance(candidate, str) else candidate
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(raw, key)
        return found


class TokenBuckets:
    """One bucket per key digest: `rate` tokens a second, at most `burst` kept."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, max(burst, 1)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, who: str) -> float:
        """0 when a request may pass now, else the seconds until it may."""
        now = time.monotonic()
        tokens, last = self._buckets.get(who, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._buckets[who] = (tokens - 1, now)
            return 0.0
        self._buckets[who] = (tokens, now)
        return (1 - tokens) / self.rate


class KeyGate:
    """Refuses reads without a valid key when configured, and rate-limits every keyed request."""

    def __init__(
        self, app: ASGIApp, keys: KeyRing, read_requires_key: bool, rate: float, burst: int
    ) -> None:
        self.app, self.keys, self.read_requires_key = app, keys, read_requires_key
        self.buckets = TokenBuckets(rate, burst) if rate > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (not self.read_requires_key and self.buckets is None):
            await self.app(scope, receive, send)
            return
        key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value
                break
        valid = self.keys.match(key)
        is_read = scope["method"] in ("GET", "HEAD")
        if (
            self.read_requires_key
            and is_read
            and not valid
            and scope["path"] not in PUBLIC_PATHS
            and not scope["path"].startswith(PUBLIC_PREFIX)
        ):
            response = error_response(401, "unauthorized", "a valid X-API-Key is required")
            await response(scope, receive, send)
            return
        if valid and self.buckets is not None and key is not None:
            wait = self.buckets.take(hashlib.blake2b(key, digest_size=12).hexdigest())
            if wait > 0:
                response = error_response(
                    429,
                    "too_many_requests",
                    "this key is over its rate limit; retry after the given seconds",
                    headers={"Retry-After": str(math.ceil(wait))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
