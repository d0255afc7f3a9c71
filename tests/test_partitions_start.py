"""Partitions that begin at the data: the start `make run` resolves from the drops it lands and
keeps for later days, the settings every process reads it from, and the serving API's gate for
pushed logs at that start."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import PlatformSettings, keep_start, platform_settings, start_file
from orchestration.cli.home import resolve_partitions_start
from orchestration.cli.landing import ensure_sample_drops
from orchestration.cli.settings import CliSettings
from sample_sources.sales import write_drops
from serving.core.config import Settings
from tests.serving_fixtures import client_for

TODAY = date(2026, 5, 20)
KEY = "test-key"


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No start in the environment (the session sets one), an empty landing folder and a
    Dagster home of the test's own; the landing folder."""
    for name in ("SALES_START_DATE", "LOGS_START_DATE", "SERVING_LOGS_START_DATE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no `.env` of the checkout's
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LANDING_DIR", str(tmp_path / "landing"))
    return tmp_path / "landing"


@pytest.fixture
def resolve(unset, monkeypatch):
    """`make run`'s resolution, once per process as there: it hands the start to the processes
    it starts through SALES_START_DATE, unset again here for the next call."""

    def resolve(today: date) -> date:
        start = resolve_partitions_start(CliSettings(), print, today=today)
        assert os.environ.get("SALES_START_DATE") == start.isoformat()
        monkeypatch.delenv("SALES_START_DATE")
        return start

    return resolve


def drop_days(landing: Path) -> list[str]:
    return sorted(p.name[len("sales_") : -len(".csv")] for p in (landing / "sales").glob("*.csv"))


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


def test_without_a_start_the_settings_fall_back_and_the_logs_follow_the_sales(unset):
    fallback = platform_settings()
    assert fallback.first_day == date(2024, 1, 1)
    assert fallback.first_hour_key == "2024-01-01-00:00"
    keep_start(date(2026, 5, 15))
    kept = platform_settings()
    assert kept.first_day == date(2026, 5, 15) and kept.first_hour_key == "2026-05-15-00:00"


def test_the_environment_wins_over_the_kept_start(unset, monkeypatch):
    keep_start(date(2026, 5, 15))
    monkeypatch.setenv("SALES_START_DATE", "2026-05-01")
    assert platform_settings().first_hour_key == "2026-05-01-00:00"
    monkeypatch.setenv("LOGS_START_DATE", "2026-05-10-06:00")
    settings = platform_settings()
    assert settings.first_day == date(2026, 5, 1)
    assert settings.first_hour == datetime(2026, 5, 10, 6, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-05-10", "2026-05-10-06:30", "yesterday"])
def test_a_logs_start_that_is_not_an_hour_is_refused(unset, monkeypatch, value):
    monkeypatch.setenv("LOGS_START_DATE", value)
    with pytest.raises(ValidationError, match="LOGS_START_DATE"):
        PlatformSettings()
    # The API holds the platform's settings: it refuses the same start.
    with pytest.raises(ValidationError, match="LOGS_START_DATE"):
        Settings()


def test_the_api_composes_the_platform_settings(unset, monkeypatch):
    keep_start(date(2026, 5, 15))
    settings = Settings()
    assert settings.platform.first_day == date(2026, 5, 15)
    assert settings.logs_start_date == settings.platform.first_hour_key == "2026-05-15-00:00"
    monkeypatch.setenv("LOGS_START_DATE", "2026-05-10-06:00")
    assert Settings().logs_start_date == "2026-05-10-06:00"
    # The API's own variable still overrides it.
    monkeypatch.setenv("SERVING_LOGS_START_DATE", "2026-05-12-00:00")
    assert Settings().logs_start_date == "2026-05-12-00:00"


def test_make_run_dates_the_sample_on_the_latest_days_and_keeps_the_start(unset, resolve):
    landing = unset
    ensure_sample_drops(CliSettings(), print, today=TODAY)
    first = TODAY - timedelta(5)
    assert drop_days(landing) == days(first, TODAY - timedelta(1))
    assert resolve(TODAY) == first
    assert start_file().read_text().splitlines()[-1] == f"SALES_START_DATE={first}"
    # The processes `make run` starts read it from the environment, any other from the file.
    assert platform_settings().first_day == first

    # Two days later: the sample's missing days are landed, the start stays.
    later = TODAY + timedelta(2)
    ensure_sample_drops(CliSettings(), print, today=later)
    assert drop_days(landing) == days(first, later - timedelta(1))
    assert resolve(later) == first

    # A drop of the user's own is newer than the sample's: nothing is added after it.
    write_drops(landing, later, 1, 50)
    ensure_sample_drops(CliSettings(), print, today=later + timedelta(5))
    assert drop_days(landing)[-1] == later.isoformat()
    assert len(drop_days(landing)) == 8


def test_the_start_never_moves_later_and_follows_an_older_drop(unset, resolve):
    landing = unset
    ensure_sample_drops(CliSettings(), print, today=TODAY)
    first = resolve(TODAY)
    (landing / "sales" / f"sales_{first}.csv").unlink()  # archived: its partition stays
    assert resolve(TODAY) == first
    older = first - timedelta(30)
    write_drops(landing, older, 1, 50)
    assert resolve(TODAY) == older
    assert platform_settings().first_day == older


def test_a_landing_folder_of_the_users_own_keeps_its_drops_and_sets_the_start(unset, resolve):
    landing = unset
    write_drops(landing, date(2024, 3, 1), 5, 500)
    ensure_sample_drops(CliSettings(), print, today=TODAY)
    assert drop_days(landing) == days(date(2024, 3, 1), date(2024, 3, 5))
    assert resolve(TODAY) == date(2024, 3, 1)


def test_an_explicit_start_is_used_as_it_is(unset, monkeypatch):
    monkeypatch.setenv("SALES_START_DATE", "2024-01-01")
    ensure_sample_drops(CliSettings(), print, today=TODAY)
    assert resolve_partitions_start(CliSettings(), print, today=TODAY) == date(2024, 1, 1)
    assert not start_file().exists()


def test_with_no_drop_at_all_the_partitions_begin_yesterday(resolve):
    assert resolve(TODAY) == TODAY - timedelta(1)


def test_the_api_takes_logs_from_the_first_hour_of_the_data(unset, tmp_path, monkeypatch):
    # As `make run` starts it: SALES_START_DATE set, LOGS_START_DATE not.
    monkeypatch.setenv("SALES_START_DATE", "2026-05-15")
    assert Settings().logs_start_date == "2026-05-15-00:00"
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"

    def log(timestamp: str) -> dict[str, str]:
        return {"timestamp": timestamp, "service": "s", "severity": "info", "message": "m"}

    with client_for(url, api_keys=KEY) as c:
        at_start = c.post(
            "/ingest/logs", json=[log("2026-05-15T00:00:00Z")], headers={"X-API-Key": KEY}
        )
        assert at_start.status_code == 201, at_start.text
        before = c.post(
            "/ingest/logs", json=[log("2026-05-14T23:59:59Z")], headers={"X-API-Key": KEY}
        )
        assert before.status_code == 422
        [detail] = before.json()["error"]["details"]
        assert detail["field"] == "timestamp"
        assert detail["reason"] == (
            "is before the first log partition: the earliest valid time is 2026-05-15T00:00:00Z"
        )


def test_the_api_reads_the_start_make_run_kept(unset):
    keep_start(date(2026, 5, 15))
    assert Settings().logs_start_date == "2026-05-15-00:00"
