"""Dagster definitions, one folder per data domain, loaded by `dg.load_from_defs_folder`: each
module's assets, checks, jobs, schedules and sensors, and each `@dg.definitions` function (the
domains whose partitions or sensors follow the settings build them there, on load)."""
