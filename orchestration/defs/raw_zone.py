"""The lake's raw zone: source payloads kept exactly as received; and the records read from them
loaded into their table, their rejects into `api_rejects`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pyarrow as pa

from core.contracts import Contract, ContractError
from core.contracts.datasets import API_REJECTS
from core.warehouse import Warehouse
from orchestration.defs.audits import Audit, Outcome, publication, write_audit_publish
from orchestration.defs.metadata import table_metadata
from orchestration.storage.lake import Lake


def write_raw_json(lake: Lake, relpath: str, payload: Any) -> str:
    """Store a source's records under `raw/`, returning the file's location."""
    return lake.write_bytes(f"raw/{relpath}", json.dumps(payload, ensure_ascii=False).encode())


def read_raw_json(lake: Lake, relpath: str) -> Any:
    return json.loads(lake.read_bytes(f"raw/{relpath}"))


def csv_header(lake: Lake, relpath: str) -> list[str]:
    """The column names on the first line of a CSV file of the lake, read without the rest."""
    with lake.open_input(relpath) as source:
        first = source.read(64 * 1024).split(b"\n", 1)[0].decode("utf-8", "replace")
    return [c.strip().strip('"') for c in first.strip().split(",")]


def header_drift(expected: list[str], columns: list[str]) -> dict[str, list[str]]:
    """The columns of a header that `expected` lacks (`added`), and those it misses."""
    return {
        "added": [c for c in columns if c not in expected],
        "missing": [c for c in expected if c not in columns],
    }


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


@dataclass
class RecordBatch:
    """One partition's records (or the whole table's) as normalized from the raw payload:
    `rows[i]` came from `raw[i]`, and `rejected` holds the positions already refused."""

    rows: list[dict[str, Any]]
    raw: list[Any]
    rejected: dict[int, str] = field(default_factory=dict)


def publish_records(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    contract: Contract,
    keys: Sequence[str | None],
    batch: Callable[[str | None], RecordBatch],
    audits: Sequence[Audit],
) -> Iterator[Any]:
    """Load the batch of each of `keys` (None: the whole table) as a new version of its
    partition, audit it and publish it only if its checks pass (`write_audit_publish`);
    rejects go to `api_rejects` (scope `<name>` or `<name>/<key>`). Yields the asset's events,
    with a failure naming the partitions not published."""

    def write(key: str | None) -> Callable[[Any], dict[str, Any]]:
        records = batch(key)

        def into(conn: Any) -> dict[str, Any]:
            table, rejected = load_records(
                warehouse,
                contract,
                records.rows,
                records.raw,
                scope=contract.name if key is None else f"{contract.name}/{key}",
                partitions=None if key is None else [key],
                rejected=records.rejected,
                conn=conn,
            )
            return {"table": table, "rejected": rejected}

        return into

    outcomes = [
        write_audit_publish(warehouse, contract, key or "", write(key), audits) for key in keys
    ]
    rejected = sum(o.facts["rejected"] for o in outcomes if o.facts)
    if rejected:
        context.log.warning(f"{rejected} {contract.name} record(s) rejected; see api_rejects")

    def metadata(published: Sequence[Outcome]) -> dict[str, Any]:
        facts = [o.facts for o in published if o.facts]
        rows = sum(f["table"].num_rows for f in facts)
        return table_metadata(contract, facts[-1]["table"], rows=rows) | {
            "rejected": sum(f["rejected"] for f in facts)
        }

    yield from publication(context, contract.name, outcomes, metadata)
