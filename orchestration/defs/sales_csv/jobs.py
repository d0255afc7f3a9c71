"""The sales job: a day's drop, or a range of days in one run."""

import dagster as dg

sales_job = dg.define_asset_job(
    "sales_job",
    selection=dg.AssetSelection.groups("sales_csv"),
    description="A day's sales drop: raw copy, clean orders and rejects, summary, exports.",
)
