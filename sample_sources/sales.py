"""Deterministic daily sales CSV drops with realistic, countable defects.

``write_drops(landing_dir, start, days, rows)`` writes ``<landing_dir>/sales/sales_YYYY-MM-DD.csv``,
one file per day, the rows split evenly over the days. Every byte depends only on
``(seed, day, rows for that day)``: the same call always produces the same files, and a
day's text does not depend on the other days.

``write_sample_drops(landing_dir, first, last)`` writes the bundled sample that ``make run``
lands: any days, each one of the five fixed drops of 2024-03-01..05 re-dated (the same rows
and defects, the day's own date in its ids and dates), in a five-day cycle. Any five
consecutive sample days therefore hold the same rows and defects, whatever today is.

Columns: ``order_id,customer_id,product,quantity,price,order_date``. Clean rows look like
``ORD-20240301-000123,CUST-0042,"Cable, USB-C (2m)",3,9.99,2024-03-01``.

Injected defects (rates are per data row, drawn from the seed):

* ~4 % duplicate ``order_id`` - a repeat of an earlier clean row of the same file, either
  exact or near-exact (same order, different quantity);
* ~3 % missing quantity (empty field);
* ~2 % missing or invalid ``order_date`` (empty, garbage, or impossible dates such as
  ``2024-02-30``);
* ~2 % stray whitespace around an unquoted field (customer, quantity, price or date);
* ~1 per 1,000 rows (at least one per file) malformed lines with too many or too few fields.
  Quoting is never broken, so a malformed line never swallows its neighbours.

No blank lines; ``\\n`` line endings; UTF-8.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, timedelta
from pathlib import Path

import numpy as np

HEADER = "order_id,customer_id,product,quantity,price,order_date"
COLUMNS = HEADER.split(",")

#: Fixed catalogue: product name -> unit price. Some names need CSV quoting.
CATALOGUE: dict[str, float] = {
    "Notebook A5": 3.49,
    "Ballpoint Pen (10-pack)": 4.99,
    "Cable, USB-C (2m)": 9.99,
    "Desk Lamp": 24.50,
    "Mouse, Wireless": 19.95,
    "Keyboard": 39.00,
    'Monitor 27"': 229.00,
    "Coffee Beans 1kg": 17.80,
    "Mug": 6.25,
    "Water Bottle": 12.00,
    "Backpack": 54.90,
    "Headphones, Noise-Cancelling": 149.99,
    "Phone Case": 14.99,
    "Charger 65W": 34.95,
    "Sticky Notes": 2.15,
    "Stapler": 8.40,
    "Whiteboard Marker Set": 7.75,
    "Laptop Stand": 45.00,
    "HDMI Cable": 11.49,
    "Chair Cushion": 27.30,
}

DUPLICATE_RATE = 0.04
MISSING_QUANTITY_RATE = 0.03
INVALID_DATE_RATE = 0.02
WHITESPACE_RATE = 0.02
MALFORMED_PER_ROWS = 1000
CUSTOMER_COUNT = 500

#: Invalid ``order_date`` values; the impossible-but-well-formed ones are listed separately.
IMPOSSIBLE_DATES = ("2024-02-30", "2023-02-29", "2024-04-31", "2024-06-31")
INVALID_DATES = ("", "not-a-date", "2024-13-01", "31/03/2024", "N/A", *IMPOSSIBLE_DATES)

_CHUNK = 65_536  # rows drawn per batch; part of the output definition, do not change
_NEAR_DUPLICATE_SHARE = 0.4
_PAD = (" {}", "{} ", "  {}  ", "\t{}")


def _csv_field(value: str) -> str:
    """Quote ``value`` the way ``csv.writer`` (QUOTE_MINIMAL) would."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([value])
    return buffer.getvalue()


_PRODUCTS = [_csv_field(name) for name in CATALOGUE]
_PRICES = [f"{price:.2f}" for price in CATALOGUE.values()]
_CUSTOMERS = [f"CUST-{n:04d}" for n in range(CUSTOMER_COUNT + 1)]  # index 0 unused
_CUSTOMERS_COMMA = [f"{customer}," for customer in _CUSTOMERS]
_LOW_DIGITS = [f"{n:03d}," for n in range(1000)]


def _order_ids(prefix: str, first: int, count: int) -> list[str]:
    """``f"{prefix}{n:06d},"`` for ``n`` in ``[first, first + count)``, built quickly.

    Formatting a million ids one by one dominates generation time, so ids are assembled
    from a formatted thousands part plus a precomputed three-digit tail.
    """
    ids: list[str] = []
    end = first + count
    for high in range(first // 1000, (end - 1) // 1000 + 1 if count else 0):
        head = f"{prefix}{high:03d}"
        base = high * 1000
        tails = _LOW_DIGITS[max(first, base) - base : min(end, base + 1000) - base]
        ids.extend([head + tail for tail in tails])
    return ids


@dataclass
class DropStats:
    """Counts of what was written (data rows, not counting the header)."""

    rows: int = 0
    duplicates: int = 0
    near_duplicates: int = 0  # subset of ``duplicates`` whose quantity differs
    missing_quantity: int = 0
    invalid_dates: int = 0  # includes empty and impossible dates
    impossible_dates: int = 0  # subset of ``invalid_dates``, e.g. 2024-02-30
    whitespace: int = 0
    malformed: int = 0
    malformed_too_many: int = 0
    malformed_too_few: int = 0

    def __add__(self, other: DropStats) -> DropStats:
        return DropStats(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )


@dataclass(frozen=True)
class DropFile:
    """One written drop file and its defect counts."""

    path: Path
    day: date
    stats: DropStats


def _day_rng(day: date, seed: int) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([seed, day.toordinal()]))


def _iter_chunks(
    day: date, rows: int, seed: int, stats: DropStats, drawn_as: date | None = None
) -> Iterator[str]:
    """Yield the file text in pieces (header first), updating ``stats`` as rows are made.
    ``drawn_as``: the day whose random draws the rows take (default ``day``); the ids and dates
    written are ``day``'s."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = _day_rng(drawn_as or day, seed)
    malformed_mask = np.zeros(rows, dtype=bool)
    if rows:
        count = max(1, round(rows / MALFORMED_PER_ROWS))
        malformed_mask[rng.choice(rows, size=count, replace=False)] = True
    stats.rows += rows
    yield HEADER + "\n"
    for chunk_start in range(0, rows, _CHUNK):
        size = min(_CHUNK, rows - chunk_start)
        yield _chunk_text(rng, day, chunk_start, size, malformed_mask, stats)


def _chunk_text(
    rng: np.random.Generator,
    day: date,
    chunk_start: int,
    size: int,
    malformed_mask: np.ndarray,
    stats: DropStats,
) -> str:
    """Draw and format ``size`` rows starting at row ``chunk_start``.

    Every row is first formatted clean in one comprehension; the ~11 % defective rows are
    then rewritten in a short loop. Duplicates copy an earlier clean row of the same chunk.
    """
    day_iso = day.isoformat()
    prefix = f"ORD-{day:%Y%m%d}-"
    products, prices, customers = _PRODUCTS, _PRICES, _CUSTOMERS
    cust = rng.integers(1, CUSTOMER_COUNT + 1, size)
    prod = rng.integers(0, len(products), size)
    qty = rng.integers(1, 11, size)
    kind = rng.random(size)
    aux = rng.random(size)
    aux2 = rng.random(size)

    bad = malformed_mask[chunk_start : chunk_start + size]
    t_dup = DUPLICATE_RATE
    t_qty = t_dup + MISSING_QUANTITY_RATE
    t_date = t_qty + INVALID_DATE_RATE
    clean = (kind >= t_date + WHITESPACE_RATE) & ~bad
    clean_before = np.cumsum(clean) - clean  # clean rows strictly before each row
    duplicate = (kind < t_dup) & ~bad & (clean_before > 0)
    source = np.zeros(size, dtype=np.int64)
    source[duplicate] = np.flatnonzero(clean)[
        (aux[duplicate] * clean_before[duplicate]).astype(np.int64)
    ]

    cust_l, prod_l, qty_l = cust.tolist(), prod.tolist(), qty.tolist()
    ids = _order_ids(prefix, chunk_start + 1, size)  # each ends with ","
    # every (product, quantity) tail of a clean line, indexed by product * 11 + quantity
    tails = [
        f"{product},{q},{price},{day_iso}"
        for product, price in zip(products, prices, strict=True)
        for q in range(11)
    ]
    customers_comma = _CUSTOMERS_COMMA
    lines = [
        order_id + customers_comma[c] + tails[t]
        for order_id, c, t in zip(ids, cust_l, (prod * 11 + qty).tolist(), strict=True)
    ]

    n_invalid = len(INVALID_DATES)
    first_impossible = n_invalid - len(IMPOSSIBLE_DATES)
    todo = np.flatnonzero(~clean)
    for i, u, a, a2, is_bad, is_dup, j in zip(
        todo.tolist(),
        kind[todo].tolist(),
        aux[todo].tolist(),
        aux2[todo].tolist(),
        bad[todo].tolist(),
        duplicate[todo].tolist(),
        source[todo].tolist(),
        strict=True,
    ):
        order_id = ids[i][:-1]
        c, p, q = cust_l[i], prod_l[i], qty_l[i]
        cust_s, qty_s, price_s, date_s = customers[c], str(q), prices[p], day_iso
        if is_bad:
            stats.malformed += 1
            if a < 0.5:
                stats.malformed_too_many += 1
                extra = ",EXTRA" if a2 < 0.5 else ",,"
                lines[i] = f"{order_id},{cust_s},{products[p]},{q},{price_s},{date_s}{extra}"
            else:
                stats.malformed_too_few += 1
                lines[i] = f"{order_id},{cust_s},{products[p]},{q}"
            continue
        if u < t_dup:
            if not is_dup:
                continue  # no earlier clean row to repeat: the row stays clean
            stats.duplicates += 1
            if a2 < _NEAR_DUPLICATE_SHARE:
                stats.near_duplicates += 1
                sq = qty_l[j] % 10 + 1
                sp = prod_l[j]
                lines[i] = ids[j] + customers_comma[cust_l[j]] + tails[sp * 11 + sq]
            else:
                lines[i] = lines[j]
            continue
        if u < t_qty:
            stats.missing_quantity += 1
            qty_s = ""
        elif u < t_date:
            stats.invalid_dates += 1
            pick = int(a * n_invalid)
            if pick >= first_impossible:
                stats.impossible_dates += 1
            date_s = INVALID_DATES[pick]
        else:
            stats.whitespace += 1
            pad = _PAD[int(a2 * len(_PAD))]
            target = int(a * 4)
            if target == 0:
                cust_s = pad.format(cust_s)
            elif target == 1:
                qty_s = pad.format(qty_s)
            elif target == 2:
                price_s = pad.format(price_s)
            else:
                date_s = pad.format(date_s)
        lines[i] = f"{order_id},{cust_s},{products[p]},{qty_s},{price_s},{date_s}"
    return "\n".join(lines) + "\n"


def generate_day_with_stats(day: date, rows: int, seed: int = 42) -> tuple[str, DropStats]:
    """Return one day's CSV text and the counts of defects injected into it."""
    stats = DropStats()
    text = "".join(_iter_chunks(day, rows, seed, stats))
    return text, stats


def generate_day(day: date, rows: int, seed: int = 42) -> str:
    """Return one day's CSV text (header plus ``rows`` data lines)."""
    return generate_day_with_stats(day, rows, seed)[0]


def split_rows(rows: int, days: int) -> list[int]:
    """Split ``rows`` over ``days`` as evenly as possible (earlier days get the remainder)."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    base, extra = divmod(rows, days)
    return [base + (1 if index < extra else 0) for index in range(days)]


def drop_path(landing_dir: Path, day: date) -> Path:
    """Where the drop for ``day`` lives: ``<landing_dir>/sales/sales_YYYY-MM-DD.csv``."""
    return Path(landing_dir) / "sales" / f"sales_{day.isoformat()}.csv"


def write_drops_with_stats(
    landing_dir: Path, start: date, days: int, rows: int, seed: int = 42
) -> list[DropFile]:
    """Write one CSV per day and return each file's path, day and defect counts."""
    written: list[DropFile] = []
    for offset, day_rows in enumerate(split_rows(rows, days)):
        day = start + timedelta(days=offset)
        path = drop_path(landing_dir, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        stats = DropStats()
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("w", encoding="utf-8", newline="", buffering=1 << 20) as handle:
            for piece in _iter_chunks(day, day_rows, seed, stats):
                handle.write(piece)
        tmp.replace(path)  # atomic: sensors never see a half-written drop
        written.append(DropFile(path=path, day=day, stats=stats))
    return written


def write_drops(landing_dir: Path, start: date, days: int, rows: int, seed: int = 42) -> list[Path]:
    """Write ``<landing_dir>/sales/sales_YYYY-MM-DD.csv`` for ``days`` days from ``start``."""
    return [drop.path for drop in write_drops_with_stats(landing_dir, start, days, rows, seed)]


#: The bundled sample: the drops of these days (rows each) are the pattern every sample day
#: repeats, re-dated.
SAMPLE_PATTERN_START = date(2024, 3, 1)
SAMPLE_PATTERN_DAYS = 5
SAMPLE_ROWS_PER_DAY = 1040


def sample_pattern_day(day: date) -> date:
    """The pattern day whose rows and defects the sample drop of ``day`` repeats."""
    offset = (day - SAMPLE_PATTERN_START).days % SAMPLE_PATTERN_DAYS
    return SAMPLE_PATTERN_START + timedelta(days=offset)


def sample_drop(day: date) -> str:
    """The text of the bundled sample's drop for ``day``."""
    stats = DropStats()
    return "".join(_iter_chunks(day, SAMPLE_ROWS_PER_DAY, 42, stats, sample_pattern_day(day)))


def write_sample_drops(landing_dir: Path, first: date, last: date) -> list[Path]:
    """Write the bundled sample's drop of every day from ``first`` to ``last``."""
    written = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        path = drop_path(landing_dir, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(sample_drop(day), encoding="utf-8", newline="")
        tmp.replace(path)  # atomic, as in write_drops_with_stats
        written.append(path)
    return written
