"""Declarative automation: downstream assets follow their upstream partitions."""

from dagster import AssetSelection, AutomationCondition

# `AutomationCondition.eager()` without its `in_latest_time_window()`: a drop for any day, not
# only yesterday's, flows through to that day's orders, summary and exports. Only deps Dagster
# materializes can be missing: the landing tables the serving API writes (external assets)
# have no materializations, and must not hold `users` back forever.
FOLLOW_UPSTREAM = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_missing().allow(AssetSelection.all().materializable())
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("follow upstream")
