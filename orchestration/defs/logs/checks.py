"""Checks on the hourly logs and their level counts, run per hour like their assets."""

from orchestration.contracts.datasets import LOG_LEVELS_HOURLY, LOG_SEVERITIES, LOGS
from orchestration.defs.partitions import hourly_partitions
from orchestration.defs.quality import allowed_values_check, key_unique_check, not_null_check

# Within an hour the table's primary key (hour, event_id) already makes event ids unique; this
# check finds an event id a client sent again in another hour. That is the client's mistake,
# not the hour's: it is reported, but does not block the exports and counts.
logs_key_unique = key_unique_check(LOGS, hourly_partitions, blocking=False)
logs_not_null = not_null_check(LOGS, hourly_partitions)
logs_severity = allowed_values_check(LOGS, "severity", LOG_SEVERITIES, hourly_partitions)

levels_key_unique = key_unique_check(LOG_LEVELS_HOURLY, hourly_partitions)
levels_not_null = not_null_check(LOG_LEVELS_HOURLY, hourly_partitions)
levels_severity = allowed_values_check(
    LOG_LEVELS_HOURLY, "severity", LOG_SEVERITIES, hourly_partitions
)
