"""DAGSTER_HOME for the commands and every process they start: the embedded instance's config,
and the partitions' first day, resolved once and kept there for later runs."""

from __future__ import annotations

import os
from datetime import date, timedelta

from dagster import DagsterInstance

from core.settings import explicit_settings, keep_start, kept_start, platform_settings, start_file
from orchestration.cli.console import Say, shown
from orchestration.cli.landing import utc_today
from orchestration.cli.settings import DEFAULT_DAGSTER_HOME, ROOT, CliSettings
from orchestration.resources.sources import CsvLandingResource

# The embedded instance: its config is kept in the repository and copied into DAGSTER_HOME.
EMBEDDED_DAGSTER_YAML = ROOT / "deploy" / "embedded" / "dagster.yaml"


def ensure_dagster_home(settings: CliSettings) -> DagsterInstance:
    """DAGSTER_HOME with the embedded instance config. The default home under data/ holds a copy
    of deploy/embedded/dagster.yaml, refreshed when the repository's changes; a home of the
    user's own keeps whatever dagster.yaml it has. The instance, the kept start and the
    processes started later find it through the environment."""
    home = settings.dagster_home or DEFAULT_DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    shipped = EMBEDDED_DAGSTER_YAML.read_text()
    ours = home.resolve() == DEFAULT_DAGSTER_HOME.resolve()
    if not target.exists() or (ours and target.read_text() != shipped):
        target.write_text(shipped)
    return DagsterInstance.get()


def resolve_partitions_start(
    settings: CliSettings, say: Say = print, today: date | None = None
) -> date:
    """The first day of the partitions, for this process and every one it starts (through
    SALES_START_DATE in the environment): the one the environment or `.env` sets; else the
    earlier of the one kept for this instance and the first drop in the landing area (a start
    that moved later would orphan partitions the instance recorded); else yesterday. A start
    resolved here is kept in $DAGSTER_HOME/partitions.env for later runs."""
    explicit = explicit_settings().sales_start_date
    if explicit is not None:
        return explicit
    kept = kept_start()
    days = list(CsvLandingResource(location=settings.landing_dir).drops())
    found = [day for day in (kept, date.fromisoformat(days[0]) if days else None) if day]
    start = min(found) if found else (today or utc_today()) - timedelta(days=1)
    if start != kept:
        keep_start(start)
    os.environ["SALES_START_DATE"] = start.isoformat()
    hour = platform_settings().first_hour_key
    say(
        f"partitions begin where the data does: {start} (daily), {hour} (hourly); "
        f"kept in {shown(start_file())}"
    )
    return start
