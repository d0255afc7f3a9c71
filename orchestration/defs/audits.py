"""Write, audit, publish: the checks of a table evaluated on a new version of a partition, inside
the transaction that writes it.

A partition's new rows are written in one transaction. Before it commits, its audits run on that
connection, which sees the new version while every other reader still sees the published one
(SQLite's WAL and PostgreSQL's MVCC snapshots). If a blocking audit fails, `VersionRejected`
rolls the transaction back: the published rows stay exactly as they were, and the offending rows
go to the `quarantine` table until the next good version of the partition is published. The
asset's step reports each partition's verdicts to Dagster as check evaluations of that
partition (`check_evaluations`), so the UI reads each day's own result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import dagster as dg
import pyarrow as pa

from core.contracts import Contract
from core.sql import quote
from core.warehouse import Warehouse
from orchestration.defs.metadata import markdown_preview
from orchestration.instance import materialization_target

# Keys (or values) listed in a check's metadata; the counts beside them are exact.
EXAMPLES = 20
OFFENDING_PREVIEW_ROWS = 10


@dataclass(frozen=True)
class Verdict:
    """One check's result on one version of one partition."""

    check_name: str
    passed: bool
    metadata: dict[str, Any]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    blocking: bool = True
    # The rows that made a check fail (at most `QUARANTINE_MAX_ROWS` are kept).
    offending: pa.Table | None = None
    description: str | None = None

    @property
    def blocks(self) -> bool:
        """Whether this verdict keeps the version from being published."""
        return self.blocking and not self.passed and self.severity == dg.AssetCheckSeverity.ERROR

    def summary(self) -> str:
        """One line for a failure message: the check and what it found."""
        return f"{self.check_name} ({self.description})" if self.description else self.check_name


class VersionRejected(Exception):
    """A new version failed a blocking audit; raised inside its transaction, which rolls back."""

    def __init__(self, partition: str, verdicts: list[Verdict]) -> None:
        self.partition = partition
        self.verdicts = verdicts
        failed = "; ".join(v.summary() for v in verdicts if v.blocks)
        super().__init__(f"{partition}: {failed}")


@dataclass(frozen=True)
class Scope:
    """What an audit looks at: one partition of a table, on the writing connection, with the
    facts the writer knows about the version (rows read, rejects, ...)."""

    wh: Warehouse
    conn: Any
    contract: Contract
    partition: str  # '' for a whole (unpartitioned) table
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """The rows of the version: its partition's (bind `:partition`), or the whole table's."""
        if not self.contract.partition_column:
            return "1 = 1"
        return f"{quote(self.contract.partition_column)} = :partition"

    @property
    def params(self) -> dict[str, str]:
        return {"partition": self.partition} if self.contract.partition_column else {}

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of a statement (named binds) on the writing connection."""
        return list(self.wh.execute(self.conn, sql, params).fetchall())

    def scalar_row(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(self.wh.execute(self.conn, sql, params).fetchone())


@dataclass(frozen=True)
class Audit:
    """A check of a table's new version: its name, what it asserts, and how it is evaluated."""

    name: str
    description: str
    evaluate: Callable[[Scope], Verdict]
    blocking: bool = True

    def spec(self, asset: str, partitions_def: dg.PartitionsDefinition | None) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            self.name,
            asset=asset,
            description=self.description,
            blocking=self.blocking,
            partitions_def=partitions_def,
        )


def audit_version(scope: Scope, audits: Sequence[Audit]) -> list[Verdict]:
    """Evaluate `audits` on the new version; raise `VersionRejected` (rolling the write back)
    if a blocking one fails, else clear what earlier failed versions left in quarantine."""
    verdicts = evaluate(scope, audits)
    if any(v.blocks for v in verdicts):
        raise VersionRejected(scope.partition, verdicts)
    scope.wh.release(scope.contract.name, [scope.partition], conn=scope.conn)
    return verdicts


def evaluate(scope: Scope, audits: Sequence[Audit]) -> list[Verdict]:
    """Each audit's verdict on the version; whether a failure blocks is the audit's to say."""
    return [replace(audit.evaluate(scope), blocking=audit.blocking) for audit in audits]


@dataclass
class Outcome:
    """One partition's new version: its verdicts, and what its write reported if published."""

    partition: str
    verdicts: list[Verdict]
    facts: Mapping[str, Any] | None = None

    @property
    def published(self) -> bool:
        return self.facts is not None

    def reason(self) -> str:
        return "; ".join(v.summary() for v in self.verdicts if v.blocks)


def write_audit_publish(
    wh: Warehouse,
    contract: Contract,
    partition: str,
    write: Callable[[Any], Mapping[str, Any]],
    audits: Sequence[Audit],
) -> Outcome:
    """Write a new version of `partition` ('' for the whole table) with `write(conn)`, which
    returns what it knows of the version; audit it in the same transaction; commit it only if
    its blocking checks pass, else roll it back and quarantine the offending rows."""
    try:
        with wh.transaction() as conn:
            facts = write(conn)
            verdicts = audit_version(Scope(wh, conn, contract, partition, facts), audits)
    except VersionRejected as rejected:
        quarantine(wh, contract, rejected)
        return Outcome(partition, rejected.verdicts)
    return Outcome(partition, verdicts, facts)


def quarantine(wh: Warehouse, contract: Contract, rejected: VersionRejected) -> None:
    """Keep the offending rows of a rejected version, by failed check."""
    offending = {
        v.check_name: v.offending for v in rejected.verdicts if v.blocks and v.offending is not None
    }
    wh.quarantine(contract.name, rejected.partition, offending)


def publication(
    context: dg.AssetExecutionContext,
    asset: str,
    outcomes: Sequence[Outcome],
    metadata: Callable[[Sequence[Outcome]], dict[str, Any]],
) -> Iterator[Any]:
    """The asset's events for a run's partitions: materialized where published (one result for
    the run when all were, else one event per published partition), each partition's checks,
    and a failure naming the partitions not published and why."""
    published = [o for o in outcomes if o.published]
    if len(published) == len(outcomes) and not any(o.partition for o in outcomes):
        yield dg.MaterializeResult(asset_key=asset, metadata=metadata(published))
    elif len(published) == len(outcomes):
        # Each partition's materialization carries its own figures, in a range run too.
        for o in published:
            context.add_asset_metadata(metadata([o]), asset_key=asset, partition_key=o.partition)
        yield dg.MaterializeResult(asset_key=asset)
    else:
        for o in published:
            yield dg.AssetMaterialization(
                asset, partition=o.partition or None, metadata=metadata([o])
            )
    yield from check_evaluations(context, asset, {o.partition: o.verdicts for o in outcomes})
    rejected = [o for o in outcomes if not o.published]
    if rejected:
        lines = [f"{o.partition or asset} not published, failed: {o.reason()}" for o in rejected]
        raise dg.Failure(
            description="\n".join([*lines[:10], f"{len(published)} of {len(outcomes)} published"]),
            metadata={"rejected": {o.partition or asset: o.reason() for o in rejected}},
        )


def _failure_metadata(offending: pa.Table, count: int) -> dict[str, Any]:
    return {
        "offending_rows": count,
        "offending_preview": markdown_preview(offending, OFFENDING_PREVIEW_ROWS),
    }


def key_unique(contract: Contract, blocking: bool = True) -> Audit:
    """No two rows share the contract's key, across partitions. Within a partition the primary
    key (partition column, key) already forbids it, so only keys shared with another partition
    are looked for, and not at all while the table holds no other partition."""
    key = ", ".join(quote(c) for c in contract.key)
    table = quote(contract.name)

    def evaluate(scope: Scope) -> Verdict:
        wh = scope.wh
        # Unpartitioned, the primary key is the contract's key: no duplicate can be written.
        if not contract.partition_column or not wh.has_rows_outside(
            scope.conn, contract, scope.partition
        ):
            return Verdict("key_unique", True, {"duplicated_keys": 0, "examples": []})
        column = quote(contract.partition_column or "")
        shared = (
            f"{scope.where} AND ({key}) IN (SELECT {key} FROM {table} WHERE {column} <> :partition)"
        )
        params = scope.params
        (rows,) = scope.scalar_row(f"SELECT COUNT(*) FROM {table} WHERE {shared}", params)
        if not rows:
            return Verdict("key_unique", True, {"duplicated_keys": 0, "examples": []})
        offending = wh.select(scope.conn, contract, shared, params)
        examples = offending.select(list(contract.key)).slice(0, EXAMPLES).to_pylist()
        return Verdict(
            "key_unique",
            False,
            {
                # Each row of this partition has its own key here, so keys and rows agree.
                "duplicated_keys": int(rows),
                "examples": [list(e.values()) for e in examples],
                **_failure_metadata(offending, int(rows)),
            },
            offending=offending,
            description=f"{rows} row(s) share their key with another partition",
        )

    return Audit(
        "key_unique",
        f"No two rows share the key ({', '.join(contract.key)}), across partitions.",
        evaluate,
        blocking,
    )


def row_rules(
    contract: Contract,
    name: str,
    description: str,
    rules: Callable[[], Mapping[str, tuple[str, Mapping[str, Any]]]],
    counts_key: str | None = None,
) -> Audit:
    """Rows must not match any of `rules()`: {label: (SQL condition of a bad row, its named
    binds)}.
    One scan of the partition counts each rule exactly; on failure the matching rows are
    listed. The metadata has each label's count (under `counts_key`, if given, and only the
    labels that matched; else every label at the top level)."""

    def evaluate(scope: Scope) -> Verdict:
        conditions = dict(rules())
        sums = ", ".join(
            f"SUM(CASE WHEN {sql} THEN 1 ELSE 0 END)" for sql, _ in conditions.values()
        )
        params = {**scope.params}
        for _, binds in conditions.values():
            params |= binds
        found = scope.scalar_row(
            f"SELECT {sums} FROM {quote(contract.name)} WHERE {scope.where}", params
        )
        counts = {label: int(n or 0) for label, n in zip(conditions, found, strict=True)}
        metadata: dict[str, Any] = (
            {counts_key: {k: n for k, n in counts.items() if n}} if counts_key else dict(counts)
        )
        if not any(counts.values()):
            return Verdict(name, True, metadata)
        bad = " OR ".join(f"({sql})" for sql, _ in conditions.values())
        offending = scope.wh.select(scope.conn, contract, f"{scope.where} AND ({bad})", params)
        described = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
        return Verdict(
            name,
            False,
            metadata | _failure_metadata(offending, offending.num_rows),
            offending=offending,
            description=described,
        )

    return Audit(name, description, evaluate)


def not_null(contract: Contract) -> Audit:
    """Every required column of the contract is filled."""
    required = [c.name for c in contract.columns if not c.nullable]
    return row_rules(
        contract,
        "required_not_null",
        f"No nulls in the required columns: {', '.join(required)}.",
        lambda: {c: (f"{quote(c)} IS NULL", {}) for c in required},
        counts_key="null_counts",
    )


def table_audits(contract: Contract) -> list[Audit]:
    """The blocking checks every table's new version passes: its key unique, its required
    columns filled."""
    return [key_unique(contract), not_null(contract)]


def allowed_values(contract: Contract, column: str, allowed: Sequence[str]) -> Audit:
    """Every value of `column` is one of `allowed` (nulls are the not-null check's business)."""
    contract.column(column)  # fail at import on a misspelled column
    name = f"{column}_allowed"

    def evaluate(scope: Scope) -> Verdict:
        col = quote(column)
        bad = f"{scope.where} AND {col} NOT IN :allowed"
        params = {**scope.params, "allowed": list(allowed)}
        found = scope.rows(
            f"SELECT {col}, COUNT(*) FROM {quote(contract.name)} WHERE {bad} "
            f"GROUP BY {col} ORDER BY 2 DESC",
            params,
        )
        total = sum(int(n) for _, n in found)
        metadata = {
            "unexpected_rows": total,
            "unexpected": {str(v): int(n) for v, n in found[:EXAMPLES]},
        }
        if not total:
            return Verdict(name, True, metadata)
        offending = scope.wh.select(scope.conn, contract, bad, params)
        return Verdict(
            name,
            False,
            metadata | _failure_metadata(offending, total),
            offending=offending,
            description=f"{total} row(s) with a {column} not in {', '.join(allowed)}",
        )

    return Audit(name, f"{column} is one of {', '.join(allowed)}.", evaluate)


class PartitionsRejected(Exception):
    """Some partitions of a multi-partition write failed a blocking audit."""

    def __init__(self, verdicts: dict[str, list[Verdict]]) -> None:
        self.verdicts = verdicts
        super().__init__(", ".join(p for p, vs in verdicts.items() if any(v.blocks for v in vs)))


def publish_partitions(
    wh: Warehouse,
    contract: Contract,
    partitions: Sequence[str],
    write: Callable[[Any, list[str]], Mapping[str, Mapping[str, Any]]],
    audits: Sequence[Audit],
) -> list[Outcome]:
    """`write_audit_publish` for a write that rebuilds many partitions in one statement:
    `write(conn, partitions)` returns what it knows per partition. Every partition is audited
    in the write's transaction; if any fails, the transaction rolls back, the failed ones are
    quarantined, and the others are written and audited again in a transaction of their own."""
    keys = list(partitions)
    try:
        with wh.transaction() as conn:
            facts = write(conn, keys)
            verdicts = {p: evaluate(Scope(wh, conn, contract, p, facts[p]), audits) for p in keys}
            if any(v.blocks for vs in verdicts.values() for v in vs):
                raise PartitionsRejected(verdicts)
            wh.release(contract.name, keys, conn=conn)
    except PartitionsRejected as rejected:
        failed = [p for p, vs in rejected.verdicts.items() if any(v.blocks for v in vs)]
        for p in failed:
            quarantine(wh, contract, VersionRejected(p, rejected.verdicts[p]))
        good = [p for p in keys if p not in failed]
        published = publish_partitions(wh, contract, good, write, audits) if good else []
        outcomes = [Outcome(p, rejected.verdicts[p]) for p in failed] + published
        return sorted(outcomes, key=lambda o: keys.index(o.partition))
    return [Outcome(p, verdicts[p], facts[p]) for p in keys]


def check_evaluations(
    context: dg.AssetExecutionContext,
    asset: str,
    verdicts: Mapping[str, Sequence[Verdict]],
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """Each partition's verdicts as check evaluations of that partition, each aimed at the
    partition's latest materialization (the new version's when it was published, the published
    one's when it was not), so the UI shows every partition's own result, range runs included.
    Then the checks' outputs, once each."""
    key = dg.AssetKey(asset)
    latest = _latest_materializations(context.instance, key, list(verdicts))
    names: set[str] = set()
    for partition, found in verdicts.items():
        for v in found:
            names.add(v.check_name)
            yield dg.AssetCheckEvaluation(
                asset_key=key,
                check_name=v.check_name,
                passed=v.passed,
                metadata=v.metadata,
                severity=v.severity,
                blocking=v.blocking,
                partition=partition or None,
                description=v.description,
                target_materialization_data=latest.get(partition),
            )
    selected = context.selected_asset_check_keys
    for name in sorted(names):
        check_key = dg.AssetCheckKey(key, name)
        if check_key in selected:
            yield dg.Output(
                None, output_name=context.assets_def.get_output_name_for_asset_check_key(check_key)
            )


def _latest_materializations(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str]
) -> dict[str, Any]:
    """The latest materialization of each partition, as a check evaluation's target."""
    found: dict[str, Any] = {}
    for partition in partitions:
        if not partition:  # a whole-table check, aimed at the asset's latest materialization
            records = instance.fetch_materializations(key, limit=1).records
        else:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
            ).records
        if records:
            found[partition] = materialization_target(
                records[0].storage_id, records[0].run_id, records[0].timestamp
            )
    return found


def partition_results(
    context: dg.AssetCheckExecutionContext, results: Mapping[str, dg.AssetCheckResult]
) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """A check step's result for each partition it checked, as evaluations of that partition
    aimed at its latest materialization; then the step's output. A range run's single
    `AssetCheckResult` would be recorded with no partition, and the UI would show every day of
    the range as skipped."""
    [spec] = context.check_specs
    latest = _latest_materializations(context.instance, spec.asset_key, list(results))
    for partition, result in results.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            blocking=spec.blocking,
            partition=partition,
            description=result.description,
            target_materialization_data=latest.get(partition),
        )
    yield dg.Output(None)
