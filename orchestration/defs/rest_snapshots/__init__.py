"""The REST snapshots declared in `core/datasets/`: for each, its raw asset, its table, their
checks, and (through `lake/tables.py` and `records/assets.py`) its lake table and its rows in
`records`. Nothing here names a dataset: a new declaration is all it takes."""
