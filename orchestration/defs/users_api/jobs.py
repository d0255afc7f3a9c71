"""The REST API snapshots' jobs: the daily snapshot, and the merge of users pushed to the API."""

import dagster as dg

rest_api_job = dg.define_asset_job(
    "rest_api_job",
    selection=dg.AssetSelection.groups("rest_api"),
    description="Snapshot users and posts from the REST API.",
)
push_users_job = dg.define_asset_job(
    "push_users_job",
    selection=dg.AssetSelection.assets("users"),
    description="Merge the users pushed to `POST /users` into `users` (no REST API call).",
)
