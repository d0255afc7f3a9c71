"""Checks on the raw REST snapshots (the tables' own are evaluated in their step, on each new
version: `assets.py`)."""

from core.contracts.raw import RAW_SCHEMAS
from orchestration.defs.quality import raw_drift_check

raw_users_drift = raw_drift_check(
    "raw_users", RAW_SCHEMAS["raw_users"], lambda _: "raw/rest/users.json"
)
raw_posts_drift = raw_drift_check(
    "raw_posts", RAW_SCHEMAS["raw_posts"], lambda _: "raw/rest/posts.json"
)
