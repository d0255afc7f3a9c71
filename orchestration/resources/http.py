"""An HTTP client for sources: timeouts, retries with backoff and jitter, a rate limit.

Retries cover what is worth retrying: connection errors and timeouts, 429 (waiting as long as the
server's `Retry-After` asks) and 5xx, and bodies that are not valid JSON. Anything else fails at
once. Every failure names the source and the URL.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """A source could not be read; the message names the source, the URL and the cause."""


class RateLimiter:
    """Spaces calls at least `1 / per_second` apart (0 disables it); thread-safe."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """JSON over HTTP for one source."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 10.0,
        max_retry_after_s: float = 60.0,
        rate_limit_per_s: float = 0.0,
        headers: dict[str, str] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.source = source
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.max_retry_after_s = max_retry_after_s
        self.limiter = RateLimiter(rate_limit_per_s)
        self.log = logger or logging.getLogger(__name__)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers=headers or {}
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        # Full jitter: spreads the retries of many clients over the whole window.
        return random.uniform(0, min(self.backoff_max_s, self.backoff_base_s * 2**attempt))

    def request_json(self, method: str, path: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """Send a request and return its decoded JSON body and the response."""
        url = str(self._client.base_url.join(path))
        last = "no attempt made"
        for attempt in range(self.max_retries + 1):
            self.limiter.wait()
            wait: float | None = None
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code in RETRY_STATUSES:
                    last = f"HTTP {response.status_code}"
                    if response.status_code == 429:
                        wait = retry_after_seconds(response.headers.get("Retry-After"))
                        if wait is not None:
                            wait = min(wait, self.max_retry_after_s)
                elif response.is_error:
                    raise SourceError(
                        f"{self.source}: {method} {url} answered HTTP {response.status_code}: "
                        f"{response.text[:200]}"
                    )
                else:
                    try:
                        return response.json(), response
                    except ValueError as exc:
                        last = f"invalid JSON body ({exc})"
            if attempt == self.max_retries:
                break
            delay = wait if wait is not None else self._backoff(attempt)
            self.log.warning(
                "%s: %s %s failed (%s); retry %d/%d in %.2fs%s",
                self.source,
                method,
                url,
                last,
                attempt + 1,
                self.max_retries,
                delay,
                " as Retry-After asks" if wait is not None else "",
            )
            time.sleep(delay)
        raise SourceError(
            f"{self.source}: {method} {url} failed after {self.max_retries + 1} attempts: {last}"
        )
