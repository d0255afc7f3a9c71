"""Serving settings: environment variables (and a `.env` file), documented in the README."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.settings import PlatformSettings, platform_settings


def _split(value: object) -> object:
    """Comma-separated lists in the environment: `a,b` as well as a JSON array."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the serving API. Variables are `SERVING_<NAME>`, except `WAREHOUSE_URL`,
    which the whole platform shares; the platform's own settings are composed in `platform`."""

    model_config = SettingsConfigDict(
        env_prefix="SERVING_", env_file=".env", extra="ignore", populate_by_name=True
    )

    platform: PlatformSettings = Field(
        default_factory=platform_settings,
        description="The platform's settings (`core.settings`), which the API shares: where "
        "the data begins.",
    )

    warehouse_url: str = Field(
        "sqlite:///data/warehouse.db",
        validation_alias=AliasChoices("WAREHOUSE_URL", "SERVING_WAREHOUSE_URL", "warehouse_url"),
        description="The warehouse the Dagster assets write: sqlite:///path or postgresql://...",
    )
    write_url: str | None = Field(
        None,
        description=(
            "The primary the push endpoints write, when `WAREHOUSE_URL` is a read replica "
            "(PostgreSQL); unset: `WAREHOUSE_URL`."
        ),
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Keys accepted in `X-API-Key` by write endpoints (comma-separated).",
    )
    read_requires_key: bool = Field(
        False, description="Reads need an `X-API-Key` too (all but the probes and the docs)."
    )
    rate_limit_per_s: float = Field(
        100, ge=0, description="Requests a second per API key (0: no limit); then 429."
    )
    rate_limit_burst: int = Field(200, ge=1, description="Requests a key may burst above it.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS (comma-separated; `*` for any). Empty: CORS closed.",
    )
    query_timeout_ms: int = Field(2000, ge=10, description="Time limit of every read query.")
    export_timeout_ms: int = Field(
        60_000, ge=100, description="Time limit of one streamed CSV export."
    )
    max_page_depth: int = Field(
        10_000, ge=100, description="Page mode: the deepest row (page * page_size) served."
    )
    count_cap: int = Field(
        10_000, ge=1, description="Filtered counts stop at this many rows (`total_capped`)."
    )
    default_limit: int = Field(50, ge=1, description="Cursor mode: rows per page by default.")
    max_limit: int = Field(1000, ge=1, description="Cursor mode: the largest `limit`.")
    pool_size: int = Field(4, ge=1, le=64, description="Database connections (threads on SQLite).")
    pg_prepare_threshold: int | None = Field(
        5,
        ge=0,
        description=(
            "PostgreSQL: executions before psycopg prepares a statement; `none` never prepares "
            "(for PgBouncer in transaction mode older than 1.21)."
        ),
    )
    pool_timeout_ms: int = Field(
        5000, ge=10, description="How long a request waits for a connection before a 503."
    )
    version_refresh_ms: int = Field(
        1000, ge=0, description="How often table versions (ETags, freshness) are re-read."
    )
    cache_max_age_s: int = Field(0, ge=0, description="`Cache-Control: max-age` of data answers.")
    freshness_max_age_s: int = Field(
        36 * 3600, ge=1, description="/health marks a table stale after this many seconds."
    )
    cursor_secret: str = Field(
        "dataplatform-serving-cursor",
        description="Key that signs pagination cursors; set it per deployment.",
    )
    access_log: bool = Field(True, description="One JSON line per request on `serving.access`.")
    log_level: str = Field("INFO", description="Level of the serving loggers.")
    shutdown_timeout_s: int = Field(
        10, ge=0, description="Graceful shutdown: how long in-flight requests may finish."
    )
    # -- write path: POST /ingest/logs and POST /users
    ingest_max_records: int = Field(
        10_000, ge=1, description="`POST /ingest/logs`: most records in one batch (else 413)."
    )
    ingest_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="`POST /ingest/logs`: largest body (else 413)."
    )
    log_message_max_chars: int = Field(8192, ge=1, description="Longest log `message`.")
    log_attributes_max_bytes: int = Field(
        16_384, ge=2, description="Largest log `attributes` object, as compact JSON."
    )
    logs_start_date: str = Field(
        default_factory=lambda data: data["platform"].first_hour_key,
        validation_alias=AliasChoices("SERVING_LOGS_START_DATE", "logs_start_date"),
        description=(
            "The first hour of the `logs` partitions: the platform's (`LOGS_START_DATE`, else "
            "00:00 UTC of the first day of the data, as the Dagster code resolves it)."
        ),
    )
    max_clock_skew_s: int = Field(
        300, ge=0, description="How far in the future a log `timestamp` may be."
    )
    write_timeout_ms: int = Field(
        10_000, ge=10, description="How long a write waits for the warehouse before a 503."
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_URL", "SERVING_REDIS_URL"),
        description="`GET /users/{email}` caches in Redis when set, else in process.",
    )
    user_cache_ttl_s: int = Field(60, ge=1, description="Lifetime of a cached user.")
    user_cache_size: int = Field(10_000, ge=1, description="In-process cache: most users kept.")

    @field_validator("pg_prepare_threshold", mode="before")
    @classmethod
    def _none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() == "none" else value

    @field_validator("api_keys", "cors_origins", mode="before")
    @classmethod
    def _lists(cls, value: object) -> object:
        return _split(value)

    @property
    def engine(self) -> str:
        scheme = self.warehouse_url.split(":", 1)[0].split("+", 1)[0]
        return "postgresql" if scheme in ("postgresql", "postgres") else scheme


@lru_cache
def get_settings() -> Settings:
    return Settings()
