"""Each declared daily CSV feed as two assets over the daily partitions: `raw_<name>`, the
day's drop copied as received into the lake's raw zone, and `<name>`, its rows cleaned into
the table, each day published only when its checks pass on the new version."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from core.datasets import DailyCsvFeed
from orchestration.defs.audits import table_audits
from orchestration.defs.automation import FOLLOW_UPSTREAM
from orchestration.defs.csv_feeds.rows import drop_rows
from orchestration.defs.freshness import DAILY_PARTITION
from orchestration.defs.metadata import definition_metadata
from orchestration.defs.quality import csv_drift, raw_drift_check
from orchestration.defs.raw_zone import RecordBatch, publish_records
from orchestration.resources.sources import CsvLandingResource
from orchestration.resources.storage import LakeResource, WarehouseResource
from orchestration.storage.lake import hive_path

SINGLE_RUN = dg.BackfillPolicy.single_run()


def raw_path(feed: DailyCsvFeed, day: str) -> str:
    """Where the raw zone keeps the day's drop, below the lake's root."""
    name = f"{feed.folder}_{day}.csv"
    return hive_path(f"raw/{feed.folder}", feed.contract.partition_column or "", day, name)


def raw_asset(feed: DailyCsvFeed, days: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """`raw_<name>`: each day's drop, copied byte for byte; the days of the run without a drop
    are named in the run's failure, the others materialized."""

    @dg.asset(
        name=f"raw_{feed.name}",
        group_name=feed.group,
        kinds={"csv"},
        partitions_def=days,
        backfill_policy=SINGLE_RUN,
        description=(
            f"A day's drop (`<LANDING_DIR>/{feed.folder}/{feed.folder}_YYYY-MM-DD.csv`), "
            f"copied byte for byte into the lake's raw zone "
            f"(`{raw_path(feed, '<day>')}`), so a re-clean never needs the landing area again."
        ),
    )
    def _raw(
        context: dg.AssetExecutionContext, landing: CsvLandingResource, lake: LakeResource
    ) -> Iterator[Any]:
        store, drops = lake.get(), landing.drops(feed.folder)
        fs, _ = landing.filesystem()
        keys = context.partition_keys
        missing = [day for day in keys if day not in drops]
        for day in keys:
            if day in drops:
                store.copy_from(fs, drops[day].path, raw_path(feed, day))
        if not missing:
            yield dg.MaterializeResult(metadata={"files": len(keys)})
            return
        for day in keys:
            if day in drops:
                yield dg.AssetMaterialization(f"raw_{feed.name}", partition=day)
        raise dg.Failure(
            description=(
                f"no {feed.name} drop for {len(missing)} day(s): {missing[:10]} (expected "
                f"{landing.location}/{feed.folder}/{feed.folder}_<day>.csv)"
            ),
            metadata={"missing_days": missing},
        )

    return _raw


def table_asset(
    feed: DailyCsvFeed, raw: dg.AssetsDefinition, days: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """`<name>`: the day's rows, typed by the contract, with its checks run on each new
    version."""
    contract = feed.contract

    @dg.asset(
        name=feed.name,
        group_name=feed.group,
        kinds={"python"},
        deps=[raw],
        partitions_def=days,
        backfill_policy=SINGLE_RUN,
        automation_condition=FOLLOW_UPSTREAM,
        metadata=definition_metadata(contract),
        freshness_policy=DAILY_PARTITION,
        check_specs=[a.spec(feed.name, days) for a in table_audits(contract)],
        pool="warehouse",
        description=(
            f"{contract.description} One partition per day (`{contract.partition_column}`), "
            f"cleaned from `raw_{feed.name}`: fields trimmed, empty ones null, values typed by "
            f"the contract, the first row of a key kept. A row that breaks the contract, "
            f"belongs to another day, repeats a key or is malformed goes to `api_rejects` "
            f"(scope `{feed.name}/<day>`). A day is published only if its checks pass."
        ),
    )
    def _table(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> Iterator[Any]:
        store = lake.get()

        def batch(day: str | None) -> RecordBatch:
            text = store.read_bytes(raw_path(feed, day or "")).decode("utf-8-sig", "replace")
            return drop_rows(feed, day or "", text)

        yield from publish_records(
            context,
            warehouse.get(),
            contract,
            context.partition_keys,
            batch,
            table_audits(contract),
        )

    return _table


def feed_definitions(
    feed: DailyCsvFeed, days: dg.PartitionsDefinition
) -> tuple[list[dg.AssetsDefinition], dg.AssetChecksDefinition]:
    """The feed's raw asset and table, and the blocking header check of its raw drops."""
    raw = raw_asset(feed, days)
    drift = raw_drift_check(
        f"raw_{feed.name}",
        csv_drift(feed.headers),
        lambda day: raw_path(feed, day or ""),
        partitions_def=days,
    )
    return [raw, table_asset(feed, raw, days)], drift
