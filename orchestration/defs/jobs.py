"""Jobs: what the schedules, sensors and `make demo` launch."""

from dagster import AssetSelection, define_asset_job

rest_api_job = define_asset_job(
    "rest_api_job",
    selection=AssetSelection.groups("rest_api"),
    description="Snapshot users and posts from the REST API.",
)
countries_job = define_asset_job(
    "countries_job",
    selection=AssetSelection.groups("graphql_api"),
    description="Countries of a continent (or a range of continents) from the GraphQL API.",
)
sales_job = define_asset_job(
    "sales_job",
    selection=AssetSelection.groups("sales_csv"),
    description="A day's sales drop: raw copy, clean orders and rejects, summary, exports.",
)
records_job = define_asset_job(
    "records_job",
    selection=AssetSelection.groups("unified"),
    description="Rebuild the unified `records` table.",
)

logs_job = define_asset_job(
    "logs_job",
    selection=AssetSelection.groups("logs"),
    description="Hours of pushed logs (or a range of hours, in one run): dedupe from landing, "
    "exports, level counts, and their checks.",
)
push_users_job = define_asset_job(
    "push_users_job",
    selection=AssetSelection.assets("users"),
    description="Merge the users pushed to `POST /users` into `users` (no REST API call).",
)

JOBS = [rest_api_job, countries_job, sales_job, records_job, logs_job, push_users_job]
