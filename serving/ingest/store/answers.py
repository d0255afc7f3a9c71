"""What a write answers: stored (201 with the landing ids), replayed from an earlier request with
the same `Idempotency-Key`, or refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson


class WarehouseBusy(Exception):
    """The write waited past its time limit for the table's lock."""


class DuplicateEmail(Exception):
    """A user with this email exists already (pushed or from the REST API)."""


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was used before with a different request body."""


@dataclass(frozen=True)
class Idempotency:
    """A request's `Idempotency-Key`, scoped to its API key, and its body's digest."""

    key: str
    request_hash: str

    @classmethod
    def of(cls, api_key: str, header: str, body: bytes) -> Idempotency:
        scope = hashlib.blake2b(f"{api_key}\0{header}".encode(), digest_size=16).hexdigest()
        return cls(scope, hashlib.blake2b(body, digest_size=16).hexdigest())


@dataclass(frozen=True)
class Stored:
    """The answer to a write: fresh, or replayed from an earlier request with the same key."""

    status: int
    body: bytes
    replayed: bool = False


def batch_answer(first: int, count: int) -> Stored:
    """The 201 of a batch stored under the landing ids `first ... first + count - 1`."""
    return Stored(201, orjson.dumps({"count": count, "ids": list(range(first, first + count))}))
