"""What `make run`, `make demo` and `make backfill` read of the environment, once, in
`orchestration.cli.main`, and what they use where it is unset. Blank variables count as unset.

Only the environment, not `.env`: the resources the runs use (`orchestration.resources`) and the
processes the command starts read the environment, and the command must name the warehouse,
landing folder and sources they use."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.warehouse import DEFAULT_WAREHOUSE_URL
from orchestration.resources.sources import DEFAULT_LANDING_DIR

ROOT = Path(__file__).resolve().parents[2]
# Where unset: the Dagster instance's folder, `run`'s log folder, and the key `make run` gives
# the API's push endpoints.
DEFAULT_DAGSTER_HOME = ROOT / "data" / "dagster_home"
DEFAULT_LOG_DIR = ROOT / "data" / "logs"
DEV_API_KEY = "dev-key"


class CliSettings(BaseSettings):
    """The embedded platform's ports, folders and sources, as the command line starts them."""

    model_config = SettingsConfigDict(env_ignore_empty=True, extra="ignore")

    sample_sources_port: int = Field(
        8100,
        validation_alias="SAMPLE_SOURCES_PORT",
        description="Port of the bundled REST and GraphQL stand-ins.",
    )
    ui_port: int = Field(3000, validation_alias="UI_PORT", description="Port of the Dagster UI.")
    api_port: int = Field(8000, validation_alias="API_PORT", description="Port of the API.")
    rest_api_url: str | None = Field(
        None,
        validation_alias="REST_API_URL",
        description="The REST source; with GRAPHQL_API_URL set too, no stand-ins are started.",
    )
    graphql_api_url: str | None = Field(
        None, validation_alias="GRAPHQL_API_URL", description="The GraphQL source."
    )
    landing_dir: str = Field(
        DEFAULT_LANDING_DIR,
        validation_alias="LANDING_DIR",
        description="Where the sales drops land (a folder or s3://bucket/prefix).",
    )
    warehouse_url: str = Field(
        DEFAULT_WAREHOUSE_URL, validation_alias="WAREHOUSE_URL", description="The warehouse."
    )
    dagster_home: Path | None = Field(
        None,
        validation_alias="DAGSTER_HOME",
        description="The Dagster instance's folder (unset: data/dagster_home).",
    )
    log_dir: Path | None = Field(
        None,
        validation_alias="LOG_DIR",
        description="Where `make run` writes the logs (unset: data/logs).",
    )
    serving_api_keys: str | None = Field(
        None,
        validation_alias="SERVING_API_KEYS",
        description="The API's push keys (unset: `make run` gives it a development key).",
    )

    @property
    def own_sources(self) -> bool:
        """Both sources are named: the bundled stand-ins are not needed."""
        return bool(self.rest_api_url and self.graphql_api_url)
