"""The bundled sample sales drops, landed on the latest days so that the newest partitions are
the filled ones, and kept current on later days while the newest drop is still the sample's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from orchestration.cli.console import Say
from orchestration.cli.settings import CliSettings
from orchestration.resources.sources import CsvLandingResource

# The bundled sales drops land on this many days, ending yesterday (UTC): the newest partitions
# are the filled ones and the 02:00 schedule's "yesterday" has a drop.
SAMPLE_DAYS = 5
# In the landing folder: the last day of the bundled sample, while its drops are the newest.
SAMPLE_MARK = ".sample-drops"


def utc_today() -> date:
    return datetime.now(UTC).date()


def ensure_sample_drops(settings: CliSettings, say: Say = print, today: date | None = None) -> None:
    """The bundled sales drops on the latest days: in an empty landing folder, the SAMPLE_DAYS
    days ending yesterday (UTC). On a later day, while the newest drop is still the sample's
    (as the mark left beside them says), the days since then, as a daily source would have
    delivered them; drops of the user's own are never added to."""
    location = settings.landing_dir
    if location.startswith("s3://"):
        return
    from sample_sources.sales import write_sample_drops

    landing, mark = Path(location), Path(location) / SAMPLE_MARK
    yesterday = (today or utc_today()) - timedelta(days=1)
    drops = list(CsvLandingResource(location=location).drops())
    if not drops:
        first = yesterday - timedelta(days=SAMPLE_DAYS - 1)
    elif mark.is_file() and mark.read_text().strip() == drops[-1]:
        first = date.fromisoformat(drops[-1]) + timedelta(days=1)
    else:
        return
    if first > yesterday:
        return
    files = write_sample_drops(landing, first, yesterday)
    mark.write_text(f"{yesterday.isoformat()}\n")
    more = " more" if drops else ""
    say(f"wrote {len(files)}{more} sample sales drops ({first}...{yesterday}) to {location}/sales/")
