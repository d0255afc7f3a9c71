"""The feeds' definitions, which depend on the settings: the daily partitions begin on the
first day of the data, and the drop sensors look at the configured interval."""

import dagster as dg

from core.datasets import FEEDS, DailyCsvFeed
from core.settings import platform_settings_once
from orchestration.defs.csv_feeds.assets import feed_definitions
from orchestration.defs.drops import drop_sensor
from orchestration.defs.lake.assets import lake_key
from orchestration.defs.sales_csv.partitions import daily_partitions


def feed_job(feed: DailyCsvFeed):
    """`<name>_job`: a day's drop (or a range of days in one run) into the table and the lake."""
    name = feed.name
    return dg.define_asset_job(
        f"{name}_job",
        selection=dg.AssetSelection.assets(f"raw_{name}", name, lake_key(name)),
        description=f"A day's `{feed.folder}` drop: raw copy, `{name}` and its lake table.",
    )


@dg.definitions
def csv_feeds() -> dg.Definitions:
    """Each declared feed: its assets and checks, `<name>_job`, the schedule `daily_<name>`
    (yesterday's day at 02:00 UTC) and `<name>_drop_sensor`."""
    settings = platform_settings_once()
    days = daily_partitions(settings)
    assets, checks, jobs, schedules, sensors = [], [], [], [], []
    for feed in FEEDS:
        feed_assets, drift = feed_definitions(feed, days)
        job = feed_job(feed)
        assets += feed_assets
        checks.append(drift)
        jobs.append(job)
        schedules.append(
            dg.build_schedule_from_partitioned_job(
                job,
                name=f"daily_{feed.name}",
                hour_of_day=2,
                description=f"Yesterday's `{feed.name}` partition every day at 02:00 UTC.",
            )
        )
        sensors.append(
            drop_sensor(
                feed.name,
                feed.folder,
                job.name,
                f"raw_{feed.name}",
                days,
                settings.sensor_interval_s,
            )
        )
    return dg.Definitions(
        assets=assets, asset_checks=checks, jobs=jobs, schedules=schedules, sensors=sensors
    )
