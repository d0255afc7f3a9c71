"""Checks on the REST snapshots."""

from orchestration.contracts.datasets import POSTS, USERS
from orchestration.contracts.raw import RAW_SCHEMAS
from orchestration.defs.quality import key_unique_check, not_null_check, raw_drift_check

raw_users_drift = raw_drift_check(
    "raw_users", RAW_SCHEMAS["raw_users"], lambda _: "raw/rest/users.json"
)
raw_posts_drift = raw_drift_check(
    "raw_posts", RAW_SCHEMAS["raw_posts"], lambda _: "raw/rest/posts.json"
)
users_key_unique = key_unique_check(USERS)
users_not_null = not_null_check(USERS)
posts_key_unique = key_unique_check(POSTS)
posts_not_null = not_null_check(POSTS)
