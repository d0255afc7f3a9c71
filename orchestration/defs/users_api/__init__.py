"""The REST API snapshots: users and posts."""
