"""The REST API's daily snapshot: every dataset of its asset group."""

import dagster as dg

from core.datasets import REST_GROUP, SNAPSHOTS

# `users` is built by hand (`users_api`: it also merges the pushed users); the others are the
# declarations of the group.
REST_DATASETS = ("users", *(s.name for s in SNAPSHOTS if s.group == REST_GROUP))

rest_api_job = dg.define_asset_job(
    "rest_api_job",
    selection=dg.AssetSelection.groups(REST_GROUP),
    description=f"Snapshot the REST API's datasets: {', '.join(REST_DATASETS)}.",
)
