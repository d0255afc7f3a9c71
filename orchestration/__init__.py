"""The Dagster code location of the data platform: assets, checks, automation and resources.

Only `orchestration.definitions`, `orchestration.defs` and `orchestration.resources` import
Dagster; `core.contracts`, `core.settings` and `orchestration.storage` are plain
Python, so the serving API and the benchmarks can use them without it.
"""
