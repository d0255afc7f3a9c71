"""The serving API: read-only REST over the materialized tables (imports no Dagster)."""
