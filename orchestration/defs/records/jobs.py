"""The unified table's job."""

import dagster as dg

records_job = dg.define_asset_job(
    "records_job",
    selection=dg.AssetSelection.groups("unified"),
    description="Rebuild the unified `records` table.",
)
