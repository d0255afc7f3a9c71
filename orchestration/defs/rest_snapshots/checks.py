"""The schema-drift check of each declared snapshot's raw payload, against the shape its
fields expect (the tables' own checks run in their step, on each new version: `assets.py`)."""

from core.datasets import SNAPSHOTS
from orchestration.defs.quality import raw_drift_check
from orchestration.defs.rest_snapshots.assets import raw_path

declared_drift_checks = [
    raw_drift_check(f"raw_{s.name}", s.raw_schema, lambda _, s=s: f"raw/{raw_path(s)}")
    for s in SNAPSHOTS
]
