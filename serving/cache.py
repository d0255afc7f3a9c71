"""The read-through cache of `GET /users/{email}`: in process by default, Redis when configured.

Entries are keyed by the `users` table's version, so a new materialization makes every older
entry unreachable at once; `POST /users` deletes its email's entry. A cache that fails (Redis
down, slow or refusing) is skipped for a few seconds and the request goes to the warehouse:
the cache can make the API faster, never make it fail.
"""

from __future__ import annotations

import hashlib
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict

log = logging.getLogger("serving.cache")

# After a failure, how long the API leaves Redis alone before trying it again.
BACKOFF_S = 5.0


def cache_key(email: str) -> str:
    return "dataplatform:user:" + hashlib.blake2b(email.encode(), digest_size=12).hexdigest()


class UserCache(ABC):
    """Answers by email, stamped with the `users` version they were read at.

    An entry read under another version is a miss, so a new materialization invalidates every
    entry at once without touching the cache. A miss of the warehouse (no such user) is cached
    only by a cache every API process shares, so that `POST /users` in one process can
    invalidate it for all.
    """

    name: str
    shared: bool
    hits = misses = errors = 0

    async def get(self, email: str, version: str) -> bytes | None:
        """The cached answer (b"" for "no such user"), or None."""
        raw = await self._get(cache_key(email))
        if raw is not None:
            stamp, _, body = raw.partition(b"\n")
            if stamp.decode() == version:
                self.hits += 1
                return body
        self.misses += 1
        return None

    async def put(self, email: str, version: str, body: bytes) -> None:
        if body or self.shared:
            await self._set(cache_key(email), version.encode() + b"\n" + body)

    async def forget(self, email: str) -> None:
        await self._delete(cache_key(email))

    @abstractmethod
    async def _get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def _set(self, key: str, value: bytes) -> None: ...

    @abstractmethod
    async def _delete(self, key: str) -> None: ...

    async def close(self) -> None:
        return None


class MemoryCache(UserCache):
    """An LRU dict with expiry, for one API process."""

    name, shared = "memory", False

    def __init__(self, ttl_s: int, size: int) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def _get(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._data.pop(key, None)
            return None
        self._data.move_to_end(key)
        return entry[1]

    async def _set(self, key: str, value: bytes) -> None:
        self._data[key] = (time.monotonic() + self.ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    async def _delete(self, key: str) -> None:
        self._data.pop(key, None)


class RedisCache(UserCache):
    """Redis, shared by every API process; short timeouts and a back-off after a failure."""

    name, shared = "redis", True

    def __init__(self, url: str, ttl_s: int, timeout_s: float = 0.05) -> None:
        import redis.asyncio as redis

        self.ttl_s = ttl_s
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
        )
        self._skip_until = 0.0

    def _available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        self._skip_until = time.monotonic() + BACKOFF_S
        log.warning("redis cache unavailable (%s); skipping it for %.0f s", exc, BACKOFF_S)

    async def _get(self, key: str) -> bytes | None:
        if not self._available():
            return None
        try:
            return await self.client.get(key)
        except Exception as exc:  # any failure of the cache is a miss, never an error
            self._failed(exc)
            return None

    async def _set(self, key: str, value: bytes) -> None:
        if not self._available():
            return
        try:
            await self.client.set(key, value, ex=self.ttl_s)
        except Exception as exc:
            self._failed(exc)

    async def _delete(self, key: str) -> None:
        # Tried even while backing off: a stale entry outliving a write is worse than a wait.
        try:
            await self.client.delete(key)
        except Exception as exc:
            self._failed(exc)

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except Exception as exc:
            log.debug("closing the redis client: %s", exc)


def open_cache(redis_url: str | None, ttl_s: int, size: int) -> UserCache:
    return RedisCache(redis_url, ttl_s) if redis_url else MemoryCache(ttl_s, size)
