"""The checks of a day's new orders, evaluated on that version before it is published
(`orchestration/defs/audits.py`): keys, nulls, value ranges and the reject ratio block a bad
day; a row count far from the recent days' only warns."""

from datetime import UTC, datetime
from statistics import median

import dagster as dg

from core.contracts.datasets import SALES_ORDERS
from orchestration.defs.audits import Audit, Scope, Verdict, key_unique, not_null, row_rules
from orchestration.resources.quality import QualityThresholds

EARLIEST_PLAUSIBLE_DAY = "2000-01-01"

ORDERS_KEY_UNIQUE = key_unique(SALES_ORDERS)
ORDERS_NOT_NULL = not_null(SALES_ORDERS)


def _out_of_range() -> dict[str, tuple[str, dict[str, str]]]:
    today = datetime.now(UTC).date().isoformat()
    return {
        "non_positive_quantity": ("quantity <= 0", {}),
        "negative_price": ("price < 0", {}),
        "implausible_order_date": (
            "order_date < :earliest OR order_date > :today",
            {"earliest": EARLIEST_PLAUSIBLE_DAY, "today": today},
        ),
    }


ORDERS_VALUE_RANGES = row_rules(
    SALES_ORDERS,
    "value_ranges",
    "quantity > 0, price >= 0, and an order_date between 2000-01-01 and today.",
    _out_of_range,
)


def reject_ratio(quality: QualityThresholds) -> Audit:
    """Rejected rows over rows cleaned: a warning above one threshold, a failure above the
    other. The offending rows of a failure are the day's rejects."""

    def evaluate(scope: Scope) -> Verdict:
        orders, rejects = scope.facts["orders"], scope.facts["rejects"]
        total = orders + rejects.num_rows
        ratio = round(rejects.num_rows / total, 4) if total else 0.0
        failed = ratio > quality.reject_ratio_fail
        return Verdict(
            "reject_ratio",
            ratio <= quality.reject_ratio_warn,
            {
                "worst_ratio": ratio,
                "ratios": {scope.partition: ratio},
                "rejected_rows": rejects.num_rows,
                "warn_above": quality.reject_ratio_warn,
                "fail_above": quality.reject_ratio_fail,
            },
            severity=dg.AssetCheckSeverity.ERROR if failed else dg.AssetCheckSeverity.WARN,
            offending=rejects if failed else None,
            description=f"{rejects.num_rows} of {total} rows rejected ({ratio:.1%})",
        )

    return Audit(
        "reject_ratio",
        "Rejected rows over rows cleaned, per day: a warning above 5%, a failure above 20% "
        "(resource `quality`).",
        evaluate,
    )


def row_count_anomaly(quality: QualityThresholds) -> Audit:
    """The day's rows against the median of the days written before it (the source documents'
    "compare ETL runs and flag outliers"), from `partition_ledger`. Only warns."""

    def evaluate(scope: Scope) -> Verdict:
        history = scope.wh.partition_history(
            SALES_ORDERS.name, scope.partition, quality.row_count_history, conn=scope.conn
        )
        rows = scope.facts["orders"]
        outliers = {}
        # Too little history calls nothing an outlier.
        typical = median(history) if len(history) >= 3 else None
        if typical and abs(rows - typical) > quality.row_count_tolerance * typical:
            outliers[scope.partition] = {"rows": rows, "median_of_previous": typical}
        return Verdict(
            "row_count_anomaly",
            not outliers,
            {"outliers": outliers, "partitions_checked": 1},
            severity=dg.AssetCheckSeverity.WARN,
            blocking=False,
            description=f"{rows} rows against a median of {typical}" if outliers else None,
        )

    return Audit(
        "row_count_anomaly",
        "Each partition's rows within the tolerance of the recent partitions' median.",
        evaluate,
        blocking=False,
    )
