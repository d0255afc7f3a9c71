"""The sources' snapshots: for each dataset declared in `core/datasets/` (a `RestSnapshot` or
a `GraphQLSnapshot`), its raw asset, its table, their checks, its jobs and schedules, and
(through `lake/tables.py` and `records/assets.py`) its lake table and its rows in `records`.
Nothing here names a dataset: a new declaration is all it takes."""
