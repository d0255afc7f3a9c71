"""The daily CSV feeds: for each `DailyCsvFeed` declared in `core/datasets/`, its raw asset, its
table, their checks, its job, schedule and drop sensor, and (through `lake/tables.py` and
`records/declared.py`) its lake table and its rows in `records`. Nothing here names a feed."""
