"""The REST API's snapshots: for each dataset declared in `core/datasets/`, its raw asset, its
table, their checks, and (through `lake/tables.py` and `records/assets.py`) its lake table and
its rows in `records`; and `rest_api_job`, which snapshots the whole group daily. Nothing here
names a dataset: a new declaration is all it takes."""
