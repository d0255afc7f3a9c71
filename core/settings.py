"""Where the platform's data begins: the first day of the daily partitions and the first hour of
the hourly ones, read once per process.

The environment wins (`SALES_START_DATE`, `LOGS_START_DATE`), then a `.env` file, then the start
`make run` / `make demo` resolved from the data they landed and kept in
`$DAGSTER_HOME/partitions.env`. The logs begin with the sales: the first day's 00:00 UTC unless
`LOGS_START_DATE` says otherwise. Plain Python (no Dagster), so that the serving API validates
pushed timestamps against the same first hour.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time
from functools import cache
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.contracts.datasets import LOG_HOUR_FORMAT

# The first day when nothing resolved one: what the partitions began with before they followed
# the data, so that a deployment that never sets SALES_START_DATE keeps its partitions.
FALLBACK_START = date(2024, 1, 1)
START_FILE = "partitions.env"
DEFAULT_DAGSTER_HOME = Path("data") / "dagster_home"


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


class PlatformSettings(BaseSettings):
    """Where the data begins, how often the sensors look, how long the lake keeps old versions
    and which engine the warehouse runs on. Unset fields fall back as the properties say."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    sales_start_date: date | None = Field(
        None,
        validation_alias="SALES_START_DATE",
        description="The first day of the daily partitions (YYYY-MM-DD).",
    )
    logs_start_date: datetime | None = Field(
        None,
        validation_alias="LOGS_START_DATE",
        description="The first hour of the hourly `logs` partitions (YYYY-MM-DD-HH:00, UTC).",
    )

    sensor_interval_s: int = Field(
        30,
        ge=1,
        validation_alias="SENSOR_INTERVAL_S",
        description="How often the sensors look (new drops, pushed rows, automation, runs).",
    )
    landing_sensor_interval_s: int | None = Field(
        None,
        ge=1,
        validation_alias="LANDING_SENSOR_INTERVAL_S",
        description="The landing sensor's own interval, if it differs.",
    )

    lake_retention_hours: int = Field(
        168,
        ge=0,
        validation_alias="LAKE_RETENTION_HOURS",
        description="How far back the lake's time travel reaches: lake maintenance deletes the "
        "files no version younger than this reads.",
    )

    warehouse_url: str = Field(
        "",
        validation_alias="WAREHOUSE_URL",
        description="The warehouse (the embedded SQLite file when unset). The code location only "
        "names its engine; the warehouse resource reads the URL itself when a run starts.",
    )

    @field_validator("sales_start_date", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        return _blank_is_unset(value)

    @field_validator("logs_start_date", mode="before")
    @classmethod
    def _hour(cls, value: object) -> object:
        value = _blank_is_unset(value)
        if not isinstance(value, str):
            return value
        try:
            hour = datetime.strptime(value.strip(), LOG_HOUR_FORMAT)
        except ValueError:
            raise ValueError(
                f"expected YYYY-MM-DD-HH:00, e.g. 2024-03-01-00:00: {value!r}"
            ) from None
        if hour.minute:
            raise ValueError(f"an hourly partition starts on the hour: {value!r}")
        return hour.replace(tzinfo=UTC)

    @property
    def first_day(self) -> date:
        return self.sales_start_date or FALLBACK_START

    @property
    def first_hour(self) -> datetime:
        return self.logs_start_date or datetime.combine(self.first_day, time(), UTC)

    @property
    def first_hour_key(self) -> str:
        """`first_hour` as Dagster's hourly partition key."""
        return self.first_hour.strftime(LOG_HOUR_FORMAT)

    @property
    def landing_interval_s(self) -> int:
        """The landing sensor's interval: its own, else every sensor's."""
        return self.landing_sensor_interval_s or self.sensor_interval_s

    @property
    def warehouse_kind(self) -> str:
        """The warehouse engine's name, as the UI's kind tag shows it."""
        return "postgres" if self.warehouse_url.startswith("postgres") else "sqlite"


def start_file() -> Path:
    """Where `make run` keeps the start it resolved: beside the Dagster instance whose
    partitions it names."""
    return Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME) / START_FILE


def platform_settings() -> PlatformSettings:
    """The environment, then `.env`, then the start `make run` kept."""
    return PlatformSettings(_env_file=(start_file(), ".env"))


@cache
def platform_settings_once() -> PlatformSettings:
    """`platform_settings()`, read on the first call and kept for the process: what the code
    location is built with when Dagster loads its definitions (never at import)."""
    return platform_settings()


def explicit_settings() -> PlatformSettings:
    """What the environment and `.env` say, without the kept start."""
    return PlatformSettings(_env_file=".env")


def kept_start() -> date | None:
    """The start `make run` resolved and kept for this instance, if any."""
    path = start_file()
    if not path.is_file():
        return None
    kept = dotenv_values(path).get("SALES_START_DATE") or ""
    try:
        return date.fromisoformat(kept.strip())
    except ValueError:
        raise ValueError(f"{path}: SALES_START_DATE is not a YYYY-MM-DD day: {kept!r}") from None


def keep_start(day: date) -> Path:
    """Keep `day` as this instance's first day, for later runs and other processes."""
    path = start_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# The first day of the partitions: where the sales drops began when `make run` or\n"
        "# `make demo` first landed them. SALES_START_DATE in the environment overrides it.\n"
        f"SALES_START_DATE={day.isoformat()}\n"
    )
    return path
