"""A small daily-partitioned graph for the event-log storage tests: `days_raw -> days_clean`,
both backfilled in one run; `days_clean` fails when its range holds one of `fail_days`.
Loaded by the tests in-process and by Dagster's GraphQL layer from a code server."""

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
)

days = DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
single_run = BackfillPolicy.single_run()


@asset(partitions_def=days, backfill_policy=single_run)
def days_raw(context: AssetExecutionContext) -> MaterializeResult:
    return MaterializeResult(metadata={"days": len(context.partition_keys)})


class CleanConfig(Config):
    fail_days: list[str] = []


@asset(partitions_def=days, backfill_policy=single_run, deps=[days_raw])
def days_clean(context: AssetExecutionContext, config: CleanConfig) -> MaterializeResult:
    bad = sorted(set(config.fail_days) & set(context.partition_keys))
    if bad:
        raise RuntimeError(f"cannot clean {bad}")
    return MaterializeResult(metadata={"days": len(context.partition_keys)})


days_job = define_asset_job("days_job", selection=[days_raw, days_clean])
defs = Definitions(assets=[days_raw, days_clean], jobs=[days_job])
