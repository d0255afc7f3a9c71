"""The countries' job: a continent, or a range of them in one run."""

import dagster as dg

countries_job = dg.define_asset_job(
    "countries_job",
    selection=dg.AssetSelection.groups("graphql_api"),
    description="Countries of a continent (or a range of continents) from the GraphQL API.",
)
