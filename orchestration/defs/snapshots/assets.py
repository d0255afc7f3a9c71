"""Each declared snapshot as two assets: `raw_<name>`, the source's records as received in the
lake's raw zone, and `<name>`, its table in the warehouse, published only when its checks pass
on the new version (per partition, for a partitioned one)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from core.datasets import SNAPSHOTS, GraphQLSnapshot, RestSnapshot, Snapshot, lookup
from orchestration.defs.audits import table_audits
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.freshness import DAILY_SNAPSHOT
from orchestration.defs.metadata import definition_metadata
from orchestration.defs.raw_zone import (
    RecordBatch,
    publish_records,
    read_raw_json,
    write_raw_json,
)
from orchestration.defs.snapshots.partitions import partitions_of
from orchestration.resources.sources import GraphQLResource, RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource

SINGLE_RUN = dg.BackfillPolicy.single_run()


def raw_path(snapshot: Snapshot, key: str | None = None) -> str:
    """Where the raw zone keeps the records (of partition `key`), below `raw/`."""
    if isinstance(snapshot, RestSnapshot):
        return f"rest/{snapshot.name}.json"
    if key is None:
        return f"graphql/{snapshot.name}.json"
    column = snapshot.contract.partition_column
    return f"graphql/{snapshot.name}/{column}={key}/{snapshot.name}.json"


def _keys(context: dg.AssetExecutionContext, snapshot: Snapshot) -> list[str | None]:
    """The run's partitions of the dataset, or `[None]` for a table snapshotted whole."""
    return list(context.partition_keys) if partitions_of(snapshot) else [None]


def fetch_rest(
    rest_api: RestApiResource, lake: LakeResource, path: str, name: str
) -> dg.MaterializeResult:
    """Every record of the REST collection `path`, paged, written as received to
    `raw/rest/<name>.json`."""
    records = rest_api.fetch_all(path)
    uri = write_raw_json(lake.get(), f"rest/{name}.json", records)
    return dg.MaterializeResult(
        metadata={
            "records": len(records),
            "path": dg.MetadataValue.path(uri),
            "source_url": dg.MetadataValue.url(f"{rest_api.base_url.rstrip('/')}{path}"),
        }
    )


def fetch_graphql(
    graphql_api: GraphQLResource, lake: LakeResource, snapshot: GraphQLSnapshot, key: str | None
) -> int:
    """The records of the declared query (for partition `key`), written as received to the raw
    zone; their number."""
    variables = {} if key is None else {snapshot.partition_variable: key}
    records = lookup(graphql_api.query(snapshot.query, variables), snapshot.root)
    if not isinstance(records, list):
        raise dg.Failure(
            f"{snapshot.name}: the GraphQL answer holds no list at data.{snapshot.root}"
        )
    write_raw_json(lake.get(), raw_path(snapshot, key), records)
    return len(records)


def raw_asset(snapshot: Snapshot) -> dg.AssetsDefinition:
    """`raw_<name>`: every record of the source, kept as received."""
    common: dict[str, Any] = {"name": f"raw_{snapshot.name}", "group_name": snapshot.group}
    if isinstance(snapshot, RestSnapshot):

        @dg.asset(
            **common,
            kinds={"rest", "json"},
            description=(
                f"Every record of the REST API's `{snapshot.path}` (paged with `_start`/"
                f"`_limit`), kept as received in the lake's raw zone "
                f"(`raw/{raw_path(snapshot)}`)."
            ),
        )
        def _rest(rest_api: RestApiResource, lake: LakeResource) -> dg.MaterializeResult:
            return fetch_rest(rest_api, lake, snapshot.path, snapshot.name)

        return _rest
    if not isinstance(snapshot, GraphQLSnapshot):
        raise TypeError(f"{snapshot.name}: no raw asset for {type(snapshot).__name__}")
    partitions = partitions_of(snapshot)
    each = f", run once per `{snapshot.partition_variable}`" if partitions else ""
    where = raw_path(snapshot, "<key>" if partitions else None)

    @dg.asset(
        **common,
        kinds={"graphql", "json"},
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN if partitions else None,
        description=(
            f"The records at `data.{snapshot.root}` of the GraphQL API's answer to the "
            f"declared query{each}, kept as received in the lake's raw zone (`raw/{where}`)."
        ),
    )
    def _graphql(
        context: dg.AssetExecutionContext, graphql_api: GraphQLResource, lake: LakeResource
    ) -> dg.MaterializeResult:
        keys = _keys(context, snapshot)
        records = sum(fetch_graphql(graphql_api, lake, snapshot, key) for key in keys)
        return dg.MaterializeResult(
            metadata={"records": records, "source_url": dg.MetadataValue.url(graphql_api.base_url)}
        )

    return _graphql


def load_snapshot(
    context: dg.AssetExecutionContext,
    lake: LakeResource,
    warehouse: WarehouseResource,
    snapshot: Snapshot,
) -> Iterator[Any]:
    """Normalize the raw records into the table, each partition of the run (or the whole
    table) published only if its checks pass on the new version; rejects go to `api_rejects`."""
    column = snapshot.contract.partition_column

    def batch(key: str | None) -> RecordBatch:
        store, relpath = lake.get(), raw_path(snapshot, key)
        raw = read_raw_json(store, relpath)
        # When the snapshot was taken (a re-run from the same raw records fetches nothing anew).
        fetched_at = store.modified_at(f"raw/{relpath}")
        rows = [snapshot.flatten(record) | {"fetched_at": fetched_at} for record in raw]
        if key is None or column is None:
            return RecordBatch(rows, raw)
        foreign = {
            i: f"{column}: {row[column]!r} is not {key}"
            for i, row in enumerate(rows)
            if row[column] != key
        }
        return RecordBatch(rows, raw, foreign)

    yield from publish_records(
        context,
        warehouse.get(),
        snapshot.contract,
        _keys(context, snapshot),
        batch,
        table_audits(snapshot.contract),
    )


def _table_description(snapshot: Snapshot) -> str:
    contract, name = snapshot.contract, snapshot.name
    column = contract.partition_column
    if partitions_of(snapshot) is None:
        return (
            f"{contract.description} Upserted by `{', '.join(contract.key)}` from "
            f"`raw_{name}`; records that break the contract go to `api_rejects` "
            f"(scope `{name}`)."
        )
    return (
        f"{contract.description} One partition per `{column}`: a write replaces exactly that "
        f"partition's rows from `raw_{name}`, once its checks pass on the new version (a key "
        f"must not appear in two partitions). Records that break the contract, or that belong "
        f"to another partition, go to `api_rejects` (scope `{name}/<{column}>`)."
    )


def table_asset(snapshot: Snapshot, raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    """`<name>`: the raw records flattened by the declaration's fields into the contract's
    table, with the snapshot's key-unique and not-null checks run on each new version."""
    partitions = partitions_of(snapshot)

    @dg.asset(
        name=snapshot.name,
        group_name=snapshot.group,
        kinds={"python"},
        deps=[raw],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN if partitions else None,
        automation_condition=FOLLOW_UPSTREAM,
        metadata=definition_metadata(snapshot.contract),
        freshness_policy=DAILY_SNAPSHOT,
        check_specs=[a.spec(snapshot.name, partitions) for a in table_audits(snapshot.contract)],
        description=_table_description(snapshot),
    )
    def _table(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        yield from load_snapshot(context, lake, warehouse, snapshot)

    return _table


def snapshot_assets(snapshot: Snapshot) -> list[dg.AssetsDefinition]:
    """The raw asset and the table of one declaration."""
    raw = raw_asset(snapshot)
    return [raw, table_asset(snapshot, raw)]


declared_snapshot_assets = [a for s in SNAPSHOTS for a in snapshot_assets(s)]
