"""The landing sensor: records pushed to the serving API become runs of what they touch.

Its cursor is `{"logs": <id>, "users": <id>}`, the high-water marks of `landing_logs` and
`landing_users`: every row up to the mark has been requested. The serving API hands out ids
under a writer lock, in commit order, so no row can later appear below a mark.

Each tick reads at most `BATCH_ROWS` landing log rows past the mark (as one GROUP BY per hour,
in the warehouse), requests `logs_job` for the hours they touch, and moves the mark to the
last row read, together with the requests (a tick that fails stores neither). Contiguous
hours go in one single-run range request; beyond `MAX_RUNS_PER_TICK` ranges the smallest gaps
are bridged (rebuilding an hour is harmless: the assets replace a whole hour from landing).
Run keys are the hours and the new mark, so a tick evaluated again from the same cursor asks
for nothing new; a later row for an hour already done asks for that hour again, which is
right, since the hour changed.

A row whose hour is not a partition yet (a client clock slightly ahead: the next hour) holds
the mark just below it until the hour exists. Rows for hours before `LOGS_START_DATE`, or
more than `MAX_CLOCK_SKEW_HOURS` ahead, would hold it forever: they are passed over with a
warning, and stay in `landing_logs` (a run of their hour, once it exists, picks them up).

New `landing_users` rows request `push_users_job`, which merges all pushed users into
`users`; `records` follows by declarative automation.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster import RunRequest, SensorResult

from core.contracts.datasets import LOG_HOUR_FORMAT
from core.warehouse import Warehouse
from orchestration.defs.logs import jobs as logs_jobs
from orchestration.defs.users_api import jobs as users_jobs
from orchestration.resources.storage import WarehouseResource
from orchestration.run_tags import range_tags

BATCH_ROWS = 100_000
MAX_RUNS_PER_TICK = 24
MAX_CLOCK_SKEW_HOURS = 1
HOUR = timedelta(hours=1)


@dataclass
class LandingCursor:
    """The high-water marks: the last landing id requested, per landing table."""

    logs: int = 0
    users: int = 0

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps({"logs": self.logs, "users": self.users})


@dataclass(frozen=True)
class LandedHour:
    """The landing rows of one hour within a batch: their first and last id, how many."""

    hour: str
    first_id: int
    last_id: int
    rows: int


@dataclass
class LogsPlan:
    """What a batch of landing rows asks for."""

    ranges: list[tuple[str, str]]
    high_water: int
    held: list[str] = field(default_factory=list)
    passed_over: dict[str, int] = field(default_factory=dict)


def landed_hours(wh: Warehouse, after: int, limit: int = BATCH_ROWS) -> list[LandedHour]:
    """The next `limit` landing log rows after id `after`, summed up per hour."""
    if not wh.table_exists("landing_logs"):
        return []
    rows = wh.query(
        "SELECT hour, MIN(id), MAX(id), COUNT(*) FROM (SELECT id, hour FROM landing_logs "
        f"WHERE id > :after ORDER BY id LIMIT {int(limit)}) batch GROUP BY hour",
        {"after": after},
    )
    return [LandedHour(str(h), int(a), int(b), int(n)) for h, a, b, n in rows]


def parse_hour(key: str) -> datetime | None:
    try:
        return datetime.strptime(key, LOG_HOUR_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def collapse(hours: list[datetime], max_runs: int) -> list[tuple[datetime, datetime]]:
    """Sorted hours as ranges of consecutive hours; beyond `max_runs` ranges, the smallest gaps
    are bridged until `max_runs` remain."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and hour - ranges[-1][1] == HOUR:
            ranges[-1] = (ranges[-1][0], hour)
        else:
            ranges.append((hour, hour))
    excess = len(ranges) - max_runs
    if excess <= 0:
        return ranges
    gaps = sorted(range(len(ranges) - 1), key=lambda i: (ranges[i + 1][0] - ranges[i][1], i))
    bridged = set(gaps[:excess])
    merged = [ranges[0]]
    for i, r in enumerate(ranges[1:]):
        if i in bridged:
            merged[-1] = (merged[-1][0], r[1])
        else:
            merged.append(r)
    return merged


def plan_logs(
    landed: list[LandedHour],
    after: int,
    first_hour: datetime,
    last_hour: datetime,
    max_runs: int = MAX_RUNS_PER_TICK,
) -> LogsPlan:
    """The ranges of hours to run for `landed` (rows after id `after`), and the new mark.

    `first_hour`..`last_hour` are the partitions that exist now; a row of the hour just after
    holds the mark below it, rows of hours that cannot become partitions soon are passed over.
    """
    if not landed:
        return LogsPlan([], after)
    soon = last_hour + MAX_CLOCK_SKEW_HOURS * HOUR
    when = {h.hour: parse_hour(h.hour) for h in landed}
    held = [h for h in landed if (t := when[h.hour]) is not None and last_hour < t <= soon]
    hold_from = min((h.first_id for h in held), default=None)
    hours, passed_over = [], {}
    for h in landed:
        t = when[h.hour]
        if hold_from is not None and h.first_id >= hold_from:
            continue  # read again once the held hour exists
        if t is not None and first_hour <= t <= last_hour:
            hours.append(t)
        else:
            passed_over[h.hour] = h.rows
    high_water = hold_from - 1 if hold_from is not None else max(h.last_id for h in landed)
    ranges = [
        (a.strftime(LOG_HOUR_FORMAT), b.strftime(LOG_HOUR_FORMAT))
        for a, b in collapse(hours, max_runs)
    ]
    return LogsPlan(ranges, high_water, sorted(h.hour for h in held), passed_over)


def logs_request(first: str, last: str, high_water: int) -> RunRequest:
    """One run of `logs_job` for the hours first..last (a single-run range when several)."""
    run_key = f"logs:{first}...{last}:{high_water}"
    if first == last:
        return RunRequest(run_key=run_key, job_name=logs_jobs.logs_job.name, partition_key=first)
    return RunRequest(
        run_key=run_key,
        job_name=logs_jobs.logs_job.name,
        tags=range_tags(first, last),
    )


def newest_landed_user(wh: Warehouse, after: int) -> int | None:
    """The last `landing_users` id past `after`, if any."""
    if not wh.table_exists("landing_users"):
        return None
    newest = wh.max_value("landing_users", "id", above=after)
    return None if newest is None else int(newest)


def landing_tick(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    hours: dg.TimeWindowPartitionsDefinition,
) -> SensorResult:
    """One tick: runs for the hours of `hours` the new landing rows touch, and for pushed users;
    the cursor moves with them."""
    wh = warehouse.get()
    cursor = LandingCursor.parse(context.cursor)
    requests: list[RunRequest] = []

    first, last = (
        parse_hour(hours.get_first_partition_key() or ""),
        parse_hour(hours.get_last_partition_key() or ""),
    )
    if first is None or last is None:
        # LOGS_START_DATE lies ahead: no hour is a partition yet, every row waits.
        plan = LogsPlan([], cursor.logs, held=[f"from {hours.start}"])
    else:
        plan = plan_logs(landed_hours(wh, cursor.logs), cursor.logs, first, last)
    requests += [logs_request(a, b, plan.high_water) for a, b in plan.ranges]
    if plan.held:
        context.log.info(
            f"landing_logs rows from id {plan.high_water + 1} wait for hour(s) {plan.held}"
        )
    if plan.passed_over:
        context.log.warning(
            "landing_logs rows of hours that are not partitions (before LOGS_START_DATE, or "
            f"past the next hour) were passed over, rows per hour: {plan.passed_over}"
        )
    cursor.logs = plan.high_water

    newest_user = newest_landed_user(wh, cursor.users)
    if newest_user is not None:
        requests.append(
            RunRequest(run_key=f"users:{newest_user}", job_name=users_jobs.push_users_job.name)
        )
        cursor.users = newest_user

    if not requests:
        return SensorResult(
            skip_reason=f"no new landing rows past logs id {cursor.logs}, users id "
            f"{cursor.users}" + (f"; waiting for hour(s) {plan.held}" if plan.held else ""),
            cursor=cursor.dump(),
        )
    return SensorResult(run_requests=requests, cursor=cursor.dump())


def landing_sensor(
    hours: dg.TimeWindowPartitionsDefinition, interval_s: int
) -> dg.SensorDefinition:
    """The landing sensor over the hourly partitions `hours`, looking every `interval_s`
    seconds."""

    @dg.sensor(
        name="landing_sensor",
        jobs=[logs_jobs.logs_job, users_jobs.push_users_job],
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Follows `landing_logs` and `landing_users` past their high-water marks: "
        "runs `logs_job` for the hours new log records touch (contiguous hours in one run) and "
        "`push_users_job` when users were pushed. Interval: LANDING_SENSOR_INTERVAL_S, else "
        "SENSOR_INTERVAL_S.",
    )
    def sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        return landing_tick(context, warehouse, hours)

    return sensor
