"""The data platform's one `Definitions` object: assets, jobs and resources."""

from __future__ import annotations

from dagster import Definitions, define_asset_job, in_process_executor, load_assets_from_modules

from orchestration.defs.countries_graphql import assets as countries_assets
from orchestration.defs.records import assets as records_assets
from orchestration.defs.sales_csv import assets as sales_assets
from orchestration.defs.users_api import assets as users_assets
from orchestration.resources import resources_from_env

all_assets = load_assets_from_modules(
    [users_assets, countries_assets, sales_assets, records_assets]
)

defs = Definitions(
    assets=all_assets,
    jobs=[
        define_asset_job("rest_api_job", selection="group:rest_api"),
        define_asset_job("countries_job", selection="group:graphql_api"),
        define_asset_job("sales_job", selection="group:sales_csv"),
        define_asset_job("records_job", selection="group:unified"),
    ],
    resources=resources_from_env(),
    # Steps here are small: one process avoids a process start per step (~2 s each).
    executor=in_process_executor,
)
