"""The lake's raw zone: source payloads kept exactly as received, and rejects of API records."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import nullcontext
from typing import Any

import pyarrow as pa

from core.contracts import Contract, ContractError
from core.contracts.datasets import API_REJECTS
from core.warehouse import Warehouse
from orchestration.storage.lake import Lake


def write_raw_json(lake: Lake, relpath: str, payload: Any) -> str:
    """Store a source's records under `raw/`, returning the file's location."""
    return lake.write_bytes(f"raw/{relpath}", json.dumps(payload, ensure_ascii=False).encode())


def read_raw_json(lake: Lake, relpath: str) -> Any:
    return json.loads(lake.read_bytes(f"raw/{relpath}"))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_records(
    warehouse: Warehouse,
    contract: Contract,
    records: list[dict[str, Any]],
    raw: list[Any],
    scope: str,
    partitions: list[str] | None = None,
    rejected: dict[int, str] | None = None,
    conn: Any | None = None,
) -> tuple[pa.Table, int]:
    """Validate normalized `records` against `contract` and write them with their rejects.

    `raw[i]` is the payload `records[i]` came from; `rejected` holds positions the caller has
    already refused, with the reason. The valid rows replace `partitions` (or are upserted for a
    snapshot) and the invalid ones replace `scope` in `api_rejects`, in one transaction (the
    caller's, when it passes `conn`). Returns the valid rows and the number of rejects.
    """
    bad = dict(rejected or {})
    good = []
    for position, record in enumerate(records):
        if position in bad:
            continue
        try:
            good.append(contract.coerce_record(record))
        except ContractError as exc:
            bad[position] = str(exc)
    table = pa.Table.from_pylist(good, schema=contract.arrow_schema)
    rejects = pa.Table.from_pylist(
        [
            {"scope": scope, "position": pos, "reason": reason, "raw": json.dumps(raw[pos])}
            for pos, reason in sorted(bad.items())
        ],
        schema=API_REJECTS.arrow_schema,
    )
    with nullcontext(conn) if conn is not None else warehouse.transaction() as c:
        if partitions is None:
            warehouse.upsert(contract, table, conn=c)
        else:
            warehouse.replace_partitions(contract, table, partitions, conn=c)
        warehouse.replace_partitions(API_REJECTS, rejects, [scope], conn=c)
    return table, len(bad)
