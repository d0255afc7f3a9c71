"""The merge of users pushed to the API (the daily REST snapshot is `snapshots`')."""

import dagster as dg

push_users_job = dg.define_asset_job(
    "push_users_job",
    selection=dg.AssetSelection.assets("users"),
    description="Merge the users pushed to `POST /users` into `users` (no REST API call).",
)
