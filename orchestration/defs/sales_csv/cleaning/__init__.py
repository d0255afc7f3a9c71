"""The sales cleaning rules, as a pure transform from a day's CSV bytes to orders and rejects.

The rules, in the source documents' order: duplicates by `order_id` keep the first; a missing
`quantity` becomes 1; a missing, unparseable or impossible `order_date` rejects the row. Around
them: whitespace is trimmed, types are enforced, and malformed lines are rejected with their line
number. Every data line of the file ends up in exactly one place: the orders, the rejects (with
its reason) or the duplicate count.

The file is read block by block (`DropCleaner`), so memory holds one block and the order ids
seen so far, not the whole day. One module per part: `csv_blocks` (the bytes as CSV tables, one
block at a time), `rules` (the checks and the reasons), `duplicates` (the order ids seen so far),
`cleaner` (the blocks through the rules to orders, rejects and counts).
"""

from orchestration.defs.sales_csv.cleaning.cleaner import CleanResult, DropCleaner, clean_sales
from orchestration.defs.sales_csv.cleaning.csv_blocks import BLOCK_BYTES, SOURCE_COLUMNS

__all__ = ["BLOCK_BYTES", "SOURCE_COLUMNS", "CleanResult", "DropCleaner", "clean_sales"]
