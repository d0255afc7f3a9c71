"""What the Dagster code location (`orchestration`) and the serving API (`serving`) share, and
importing neither: the datasets' contracts, the platform's settings and the warehouse's SQL."""
