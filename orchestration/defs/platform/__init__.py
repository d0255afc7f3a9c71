"""Platform bookkeeping: run history in the warehouse, readable without Dagster."""
