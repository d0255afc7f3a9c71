"""Declarative automation: downstream assets follow their upstream partitions, and never build on
one whose blocking checks failed."""

from dagster import AssetSelection, AutomationCondition

from core.settings import platform_settings

_settings = platform_settings()
# How often every sensor looks; automation reaches `records` within two of them plus the runs.
SENSOR_INTERVAL_S = _settings.sensor_interval_s
LANDING_SENSOR_INTERVAL_S = _settings.landing_sensor_interval_s or SENSOR_INTERVAL_S

# `AutomationCondition.eager()` without its `in_latest_time_window()`: a drop for any day, not
# only yesterday's, flows through to that day's orders, summary and exports. Only deps Dagster
# materializes can be missing: the landing tables the serving API writes (external assets)
# have no materializations, and must not hold `users` back forever.
FOLLOW_UPSTREAM = (
    AutomationCondition.any_deps_updated().since_last_handled()
    & ~AutomationCondition.any_deps_missing().allow(AssetSelection.all().materializable())
    & AutomationCondition.all_deps_blocking_checks_passed()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("follow upstream")


def follow_whole_tables(partitioned_deps: AssetSelection) -> AutomationCondition:
    """For an unpartitioned asset that reads its partitioned deps whole (`records`): it follows
    every update of any dep. The missing-dep and blocking-check conditions look only at its
    unpartitioned deps: over a daily dep they would ask every partition since the first day,
    and one never filled would hold the asset back forever. Nothing unpublished can reach it
    from a partitioned dep anyway: a partition's rows reach the warehouse only once its blocking
    checks pass (write, audit, publish)."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_missing()
        .allow(AssetSelection.all().materializable())
        .ignore(partitioned_deps)
        & AutomationCondition.all_deps_blocking_checks_passed().ignore(partitioned_deps)
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("follow whole tables")
