"""Asset-check builders shared by the domains (thresholds: `resources/quality.py`)."""

import json
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    PartitionsDefinition,
    asset_check,
)

from core.contracts import Contract
from core.contracts.raw import schema_drift
from core.sql import quote
from core.warehouse import Warehouse
from orchestration.defs.audits import EXAMPLES, partition_results
from orchestration.defs.raw_zone import csv_header, header_drift
from orchestration.resources.quality import QualityThresholds
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import Lake


def partition_filter(
    contract: Contract, keys: Sequence[str] | None
) -> tuple[str, dict[str, list[str]]]:
    """A WHERE clause (and its named binds) for the checked partitions; the whole table if
    none."""
    if not keys or not contract.partition_column:
        return "1 = 1", {}
    return f"{quote(contract.partition_column)} IN :partitions", {"partitions": list(keys)}


def checked_partitions(context: AssetCheckExecutionContext) -> list[str] | None:
    """The partitions a check runs for; None for an unpartitioned asset."""
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    return None


def table_check(
    contract: Contract,
    name: str,
    description: str,
    evaluate: Callable[[Warehouse, str, dict[str, Any]], AssetCheckResult],
    partitions_def: PartitionsDefinition | None = None,
    blocking: bool = True,
) -> AssetChecksDefinition:
    """A check of the contract's table: `evaluate(warehouse, where, params)` queries the rows
    of one checked partition (`where` with its named binds `params`; the whole table if
    unpartitioned).
    Each partition of a range run gets its own result, as the UI shows them per partition."""

    @asset_check(
        asset=contract.name,
        name=name,
        description=description,
        partitions_def=partitions_def,
        blocking=blocking,
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
        wh = warehouse.get()
        keys = checked_partitions(context)
        if keys is None:
            yield evaluate(wh, *partition_filter(contract, None))
            return
        results = {key: evaluate(wh, *partition_filter(contract, [key])) for key in keys}
        yield from partition_results(context, results)

    return _check


def key_unique_check(
    contract: Contract, partitions_def: PartitionsDefinition | None = None, blocking: bool = True
) -> AssetChecksDefinition:
    """The contract's key is unique, across partitions too (the table's primary key only
    enforces it within a partition)."""
    key = ", ".join(quote(c) for c in contract.key)

    def evaluate(wh: Warehouse, where: str, params: dict[str, Any]) -> AssetCheckResult:
        duplicated = (
            f"SELECT {key}, COUNT(*) AS n FROM {quote(contract.name)} WHERE ({key}) IN "
            f"(SELECT {key} FROM {quote(contract.name)} WHERE {where}) "
            f"GROUP BY {key} HAVING COUNT(*) > 1"
        )
        (count,) = wh.query(f"SELECT COUNT(*) FROM ({duplicated}) AS d", params)[0]
        rows = wh.query(f"{duplicated} ORDER BY 2 DESC LIMIT {EXAMPLES}", params) if count else []
        return AssetCheckResult(
            passed=not count,
            metadata={"duplicated_keys": int(count), "examples": [list(r[:-1]) for r in rows]},
            description=f"{count} key(s) appear more than once" if count else None,
        )

    description = f"No two rows share the key ({', '.join(contract.key)}), across partitions."
    return table_check(contract, "key_unique", description, evaluate, partitions_def, blocking)


def not_null_check(
    contract: Contract, partitions_def: PartitionsDefinition | None = None
) -> AssetChecksDefinition:
    """Every required column of the contract is filled."""
    required = [c.name for c in contract.columns if not c.nullable]

    def evaluate(wh: Warehouse, where: str, params: dict[str, Any]) -> AssetCheckResult:
        sums = ", ".join(f"SUM(CASE WHEN {quote(c)} IS NULL THEN 1 ELSE 0 END)" for c in required)
        counts = wh.query(f"SELECT {sums} FROM {quote(contract.name)} WHERE {where}", params)[0]
        nulls = {c: int(n or 0) for c, n in zip(required, counts, strict=True) if n}
        return AssetCheckResult(passed=not nulls, metadata={"null_counts": nulls})

    description = f"No nulls in the required columns: {', '.join(required)}."
    return table_check(contract, "required_not_null", description, evaluate, partitions_def)


def allowed_values_check(
    contract: Contract,
    column: str,
    allowed: Sequence[str],
    partitions_def: PartitionsDefinition | None = None,
) -> AssetChecksDefinition:
    """Every value of `column` is one of `allowed` (nulls are the not-null check's business)."""
    contract.column(column)  # fail at import on a misspelled column

    def evaluate(wh: Warehouse, where: str, params: dict[str, Any]) -> AssetCheckResult:
        rows = wh.query(
            f"SELECT {quote(column)}, COUNT(*) FROM {quote(contract.name)} WHERE {where} "
            f"AND {quote(column)} NOT IN :allowed GROUP BY {quote(column)} ORDER BY 2 DESC",
            params | {"allowed": list(allowed)},
        )
        total = sum(int(n) for _, n in rows)
        return AssetCheckResult(
            passed=not rows,
            metadata={
                "unexpected_rows": total,
                "unexpected": {str(value): int(n) for value, n in rows[:EXAMPLES]},
            },
            description=f"{total} row(s) with another {column}" if total else None,
        )

    description = f"{column} is one of {', '.join(allowed)}."
    return table_check(contract, f"{column}_allowed", description, evaluate, partitions_def)


def row_count_anomaly_check(
    contract: Contract, partitions_def: PartitionsDefinition
) -> AssetChecksDefinition:
    """A partition's row count against the median of the partitions written before it
    (the source documents' "compare ETL runs and flag outliers"), from `partition_ledger`."""

    @asset_check(
        asset=contract.name,
        name="row_count_anomaly",
        description="Each partition's rows within the tolerance of the recent partitions' median.",
        partitions_def=partitions_def,
    )
    def _check(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        quality: QualityThresholds,
    ) -> AssetCheckResult:
        wh = warehouse.get()
        outliers: dict[str, Any] = {}
        for key in context.partition_keys:
            history = wh.partition_history(contract.name, key, quality.row_count_history)
            rows = wh.partition_rows(contract.name, key)
            if rows is None or len(history) < 3:
                continue  # too little history to call anything an outlier
            typical = median(history)
            if typical and abs(rows - typical) > quality.row_count_tolerance * typical:
                outliers[key] = {"rows": rows, "median_of_previous": typical}
        return AssetCheckResult(
            passed=not outliers,
            severity=AssetCheckSeverity.WARN,
            metadata={"outliers": outliers, "partitions_checked": len(context.partition_keys)},
        )

    return _check


# What a drift check learns from a raw payload (the lake and the payload's path below it):
# whether it drifted, and the metadata that says how.
Measure = Callable[[Lake, str], tuple[bool, dict[str, Any]]]


def json_drift(expected: dict[str, str]) -> Measure:
    """A JSON payload's fields and types against `expected` (paths and JSON types)."""

    def measure(store: Lake, relpath: str) -> tuple[bool, dict[str, Any]]:
        records = json.loads(store.read_bytes(relpath))
        drift = schema_drift(expected, records)
        return drift.drifted, drift.as_metadata() | {"records": len(records)}

    return measure


def csv_drift(expected: list[str]) -> Measure:
    """A CSV file's header against the `expected` columns."""

    def measure(store: Lake, relpath: str) -> tuple[bool, dict[str, Any]]:
        drift = header_drift(expected, csv_header(store, relpath))
        return bool(drift["added"] or drift["missing"]), dict(drift)

    return measure


def raw_drift_check(
    asset_name: str,
    measure: Measure,
    raw_path: Callable[[str | None], str],
    partitions_def: PartitionsDefinition | None = None,
) -> AssetChecksDefinition:
    """The raw payload (at `raw_path(partition)` in the lake) has the fields the normalizing
    asset expects; it lists the added, missing and retyped ones. Blocking: a drifted payload
    stops the run there."""

    @asset_check(
        asset=asset_name,
        name="schema_drift",
        description="Fields added, missing or retyped in the raw payload, against the expected "
        "shape (core/contracts/raw.py, or the dataset's declaration in core/datasets/).",
        partitions_def=partitions_def,
        blocking=True,
    )
    def _check(context: AssetCheckExecutionContext, lake: LakeResource):
        store = lake.get()

        def evaluate(key: str | None) -> AssetCheckResult:
            drifted, metadata = measure(store, raw_path(key))
            return AssetCheckResult(passed=not drifted, metadata=metadata)

        keys = checked_partitions(context)
        if keys is None:
            yield evaluate(None)
        else:
            yield from partition_results(context, {key: evaluate(key) for key in keys})

    return _check
