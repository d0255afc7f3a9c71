"""The group commit, engine neutral: log batches queue while a transaction is in flight, and go
together in the next one; each batch keeps its own contiguous ids and its own answer."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from serving.db.base import DatabaseUnavailable
from serving.ingest.models import LogRecordIn
from serving.ingest.store.answers import (
    Idempotency,
    IdempotencyMismatch,
    Stored,
    batch_answer,
)

# One transaction holds at most this many records (a group of batches).
GROUP_MAX_ROWS = 50_000


@dataclass
class Pending:
    """A log batch waiting for its group's transaction, in the form its engine stores."""

    batch: Any  # landing rows (SQLite) or the records as JSON text (PostgreSQL)
    count: int
    idem: Idempotency | None
    answer: asyncio.Future[Stored]


def plan_group(
    group: Sequence[Pending], known: dict[str, tuple[Any, ...]], first: int, now: str
) -> tuple[list[Stored | Exception], list[tuple[int, Pending]], list[tuple[Any, ...]]]:
    """Each batch's answer, the batches to store with their first landing id, and the
    idempotency records to keep.

    `known` maps the group's idempotency keys already stored to (request hash, status, body);
    a key seen twice in one group answers the second time as a replay of the first.
    """
    answers: list[Stored | Exception] = []
    stored: list[tuple[int, Pending]] = []
    records: list[tuple[Any, ...]] = []
    for pending in group:
        idem = pending.idem
        if idem is not None and idem.key in known:
            request_hash, status, body = known[idem.key]
            if request_hash != idem.request_hash:
                answers.append(IdempotencyMismatch())
            else:
                answers.append(Stored(int(status), str(body).encode(), replayed=True))
            continue
        stored.append((first, pending))
        answer = batch_answer(first, pending.count)
        first += pending.count
        if idem is not None:
            body = answer.body.decode()
            known[idem.key] = (idem.request_hash, answer.status, body)
            records.append((idem.key, idem.request_hash, answer.status, body, now))
        answers.append(answer)
    return answers, stored, records


class LandingStore(ABC):
    """Appends pushed records to `landing_logs` / `landing_users`; see `open_store`."""

    def __init__(self, url: str, write_timeout_ms: int) -> None:
        self.url = url
        self.write_timeout_ms = write_timeout_ms
        self._ready = False
        self._pending: list[Pending] = []
        self._committer: asyncio.Task[None] | None = None

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def append_logs(self, records: list[LogRecordIn], idem: Idempotency | None) -> Stored:
        """Append validated log records (see `serving.ingest.models`) in the next group's
        transaction. Raises `IdempotencyMismatch`, `WarehouseBusy` and `DatabaseUnavailable`."""
        answer: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        # Converted before the batch queues, so that a group's lock is held for the writes only.
        self._pending.append(Pending(self._batch(records), len(records), idem, answer))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        return await answer

    async def _commit_groups(self) -> None:
        while self._pending:
            group, size = [], 0
            while self._pending and (not group or size + self._pending[0].count <= GROUP_MAX_ROWS):
                pending = self._pending.pop(0)
                if not pending.answer.done():  # a client that went away has nothing to store
                    group.append(pending)
                    size += pending.count
            if not group:
                continue
            try:
                answers = await self._append_group(group)
            except Exception as exc:
                answers = [exc] * len(group)
            except BaseException as exc:  # cancelled: no waiter may hang on its answer
                for pending in group:
                    if not pending.answer.done():
                        pending.answer.set_exception(DatabaseUnavailable("the write was cancelled"))
                raise exc
            for pending, answer in zip(group, answers, strict=True):
                if pending.answer.done():
                    continue
                if isinstance(answer, Exception):
                    pending.answer.set_exception(answer)
                else:
                    pending.answer.set_result(answer)

    @staticmethod
    @abstractmethod
    def _batch(records: list[LogRecordIn]) -> Any:
        """The records in the form this engine stores (see `Pending.batch`)."""

    @abstractmethod
    async def _append_group(self, group: Sequence[Pending]) -> list[Stored | Exception]:
        """One transaction for the group's batches; see `plan_group`."""

    @abstractmethod
    async def add_user(self, user: dict[str, Any]) -> dict[str, Any]:
        """Append one user; returns the landing row. Raises `DuplicateEmail`."""

    async def pushed_user(self, email: str) -> dict[str, Any] | None:
        """The `landing_users` row of `email`, read where it was written (for a replica's API).
        Only the PostgreSQL store reads: SQLite has no replicas."""
        raise NotImplementedError
