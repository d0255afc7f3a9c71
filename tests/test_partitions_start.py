"""Partitions that begin at the data: the settings every process reads the start from, and the
serving API's gate for pushed logs at that start."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestration.settings import PlatformSettings, keep_start, platform_settings
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
