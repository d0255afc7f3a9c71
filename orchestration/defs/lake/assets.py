"""One asset per lake table, `lake/<table>`: the published rows of its warehouse table, written
as a Delta table one commit per partition (or per snapshot)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.lake.tables import LakeTable
from orchestration.defs.metadata import column_schema, markdown_preview
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.delta import TableState

LAKE_PREFIX = "lake"
# Partitions named in a failure's description; the metadata lists them all.
NAMED = 10


def lake_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([LAKE_PREFIX, name])


def _metadata(state: TableState, rows: int, partition: str | None, preview: Any) -> dict:
    return {
        "dagster/uri": state.uri,
        "dagster/row_count": rows,
        "delta_version": state.version,
        "table_files": state.files,
        "table_rows": state.rows,
        **({"partition": partition} if partition else {}),
        "preview": preview,
    }


def lake_asset(
    spec: LakeTable, partitions_def: dg.PartitionsDefinition | None = None
) -> dg.AssetsDefinition:
    """The `lake/<table>` asset of a warehouse table, partitioned as that table is."""
    layout = (
        f"partitioned by `{spec.partition_by}`, each partition replaced in one commit"
        if partitions_def
        else "replaced whole in one commit per snapshot"
    )

    @dg.asset(
        key=lake_key(spec.name),
        deps=[spec.name],
        group_name=spec.group,
        kinds={"deltalake"},
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        automation_condition=FOLLOW_UPSTREAM,
        metadata={"dagster/column_schema": column_schema(spec.contract)},
        description=(
            f"`{spec.name}` in the lake as a Delta table ({layout}), at "
            f"`<LAKE_URL>/delta/{spec.name}`: the rows the warehouse published, read by DuckDB, "
            "Polars, pandas or Spark with no knowledge of this platform."
        ),
    )
    def _publish(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, lake: LakeResource
    ) -> Iterator[Any]:
        wh, tables = warehouse.get(), lake.tables()
        if not partitions_def:
            data = spec.rows(wh.read(spec.contract, order_by=spec.order_by))
            state = tables.replace_all(spec.name, data)
            context.log.info(f"{spec.name}: {data.num_rows} row(s), version {state.version}")
            yield dg.MaterializeResult(
                metadata=_metadata(state, data.num_rows, None, markdown_preview(data))
            )
            return

        keys = context.partition_keys
        published = wh.published(spec.contract, keys)
        written: dict[str, dict] = {}
        for key in keys:
            if key not in published:
                continue
            data = wh.read(spec.contract, [key], order_by=spec.order_by)
            state = spec.publish(tables, data, key)
            written[key] = _metadata(state, data.num_rows, key, markdown_preview(data))
        context.log.info(
            f"{spec.name}: {len(written)} of {len(keys)} partition(s) written"
            + (f", table at version {state.version}" if written else "")
        )
        missing = [k for k in keys if k not in published]
        if not missing:
            for key, metadata in written.items():
                context.add_asset_metadata(metadata, partition_key=key)
            yield dg.MaterializeResult()
            return
        for key, metadata in written.items():
            yield dg.AssetMaterialization(lake_key(spec.name), partition=key, metadata=metadata)
        raise dg.Failure(
            description=(
                f"{len(missing)} partition(s) of {spec.name} not in the lake: the warehouse has "
                f"never published them: {', '.join(missing[:NAMED])}"
                + (" ..." if len(missing) > NAMED else "")
                + f". {len(written)} of {len(keys)} written."
            ),
            metadata={"unpublished": missing},
        )

    return _publish
