"""Thresholds of the data-quality checks, as a resource so they are configurable."""

from dagster import ConfigurableResource
from pydantic import Field


class QualityThresholds(ConfigurableResource):
    """Limits the checks apply; set them in the launchpad or through the resource's config."""

    reject_ratio_warn: float = Field(default=0.05, description="Warn above this reject ratio.")
    reject_ratio_fail: float = Field(default=0.20, description="Fail above this reject ratio.")
    row_count_tolerance: float = Field(
        default=0.5, description="Flag a partition whose rows stray this far from the median."
    )
    row_count_history: int = Field(default=14, description="Partitions the median looks at.")
