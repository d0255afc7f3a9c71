"""Declarative automation: downstream assets follow their upstream partitions."""

from dagster import AutomationCondition

# `AutomationCondition.eager()` without its `in_latest_time_window()`: a drop for any day, not
# only yesterday's, flows through to that day's orders, summary and exports.
FOLLOW_UPSTREAM = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_missing()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("follow upstream")
