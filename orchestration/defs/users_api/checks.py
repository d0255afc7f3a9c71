"""The check on the raw users snapshot (the table's own are evaluated in its step, on each new
version: `assets.py`)."""

from core.contracts.raw import RAW_SCHEMAS
from orchestration.defs.quality import json_drift, raw_drift_check

raw_users_drift = raw_drift_check(
    "raw_users", json_drift(RAW_SCHEMAS["raw_users"]), lambda _: "raw/rest/users.json"
)
