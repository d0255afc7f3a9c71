"""Dagster resources for the sources, the warehouse and the lake, set from the environment."""

from __future__ import annotations

import os
from typing import Any

from dagster import EnvVar

from orchestration.resources.quality import QualityThresholds
from orchestration.resources.sources import CsvLandingResource, GraphQLResource, RestApiResource
from orchestration.resources.storage import LakeResource, WarehouseResource


def _env(name: str) -> Any:
    """An `EnvVar` when the variable is set (so secrets in it stay masked), else None."""
    return EnvVar(name) if os.environ.get(name) else None


def _config(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def resources_from_env() -> dict[str, Any]:
    """The resources, from WAREHOUSE_URL, LAKE_URL, LANDING_DIR, REST_API_URL, GRAPHQL_API_URL,
    S3_ENDPOINT_URL, REST_API_TOKEN and GRAPHQL_API_TOKEN; unset ones take the embedded defaults."""
    s3 = _env("S3_ENDPOINT_URL")
    return {
        "quality": QualityThresholds(),
        "warehouse": WarehouseResource(**_config(url=_env("WAREHOUSE_URL"))),
        "lake": LakeResource(**_config(url=_env("LAKE_URL"), s3_endpoint=s3)),
        "landing": CsvLandingResource(**_config(location=_env("LANDING_DIR"), s3_endpoint=s3)),
        "rest_api": RestApiResource(
            **_config(base_url=_env("REST_API_URL"), token=_env("REST_API_TOKEN"))
        ),
        "graphql_api": GraphQLResource(
            **_config(base_url=_env("GRAPHQL_API_URL"), token=_env("GRAPHQL_API_TOKEN"))
        ),
    }
