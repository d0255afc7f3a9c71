"""Dagster definitions, one folder per data domain."""

import warnings

from dagster import BetaWarning, PreviewWarning

# Single-run backfill policies and pools are beta in Dagster 1.13; we pin the minor version.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
