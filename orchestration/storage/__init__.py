"""Storage engines without Dagster: the warehouse (SQLite or PostgreSQL), the lake (local or S3)."""
