"""Declarative automation: downstream assets follow their upstream partitions, and never build on
one whose blocking checks failed."""

import dagster as dg

# The daily loads' time, 02:00 UTC: the time the source documents chose.
DAILY_AT_2 = "0 2 * * *"

# `AutomationCondition.eager()` without its `in_latest_time_window()`: a drop for any day, not
# only yesterday's, flows through to that day's orders, summary and exports. Only deps Dagster
# materializes can be missing: the landing tables the serving API writes (external assets)
# have no materializations, and must not hold `users` back forever.
FOLLOW_UPSTREAM = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing().allow(dg.AssetSelection.all().materializable())
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("follow upstream")


def follow_whole_tables(partitioned_deps: dg.AssetSelection) -> dg.AutomationCondition:
    """For an unpartitioned asset that reads its partitioned deps whole (`records`): it follows
    every update of any dep. The missing-dep and blocking-check conditions look only at its
    unpartitioned deps: over a daily dep they would ask every partition since the first day,
    and one never filled would hold the asset back forever. Nothing unpublished can reach it
    from a partitioned dep anyway: a partition's rows reach the warehouse only once its blocking
    checks pass (write, audit, publish)."""
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        .allow(dg.AssetSelection.all().materializable())
        .ignore(partitioned_deps)
        & dg.AutomationCondition.all_deps_blocking_checks_passed().ignore(partitioned_deps)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow whole tables")
