"""The logs' job: what the landing sensor launches for the hours new records touch."""

import dagster as dg

logs_job = dg.define_asset_job(
    "logs_job",
    selection=dg.AssetSelection.groups("logs"),
    description="Hours of pushed logs (or a range of hours, in one run): dedupe from landing, "
    "exports, level counts, and their checks.",
)
