"""The order ids a drop has kept so far, to tell duplicates across blocks: 64-bit hashes of the
ids, sorted, so that a block's lookup is a binary search, with every match confirmed on the id
itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_FNV_BASIS, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def hash_strings(values: pa.Array) -> np.ndarray:
    """64-bit FNV-1a of each string, vectorised: one pass per byte position, all strings at once
    (order ids are short). Equal strings hash alike; callers confirm every match exactly."""
    n = len(values)
    _, offsets_buf, data_buf = values.buffers()
    wide = pa.types.is_large_string(values.type)
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32)
    offsets = offsets[values.offset : values.offset + n + 1].astype(np.int64)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(n, _FNV_BASIS, np.uint64)
    if data_buf is None or not n or not lengths.any():
        return hashes ^ lengths.astype(np.uint64)
    data = np.frombuffer(data_buf, np.uint8)
    last = len(data) - 1
    for j in range(int(lengths.max())):
        byte = data[np.minimum(starts + j, last)].astype(np.uint64)
        hashes = np.where(lengths > j, (hashes ^ byte) * _FNV_PRIME, hashes)
    return hashes ^ lengths.astype(np.uint64)


class SeenIds:
    """The order ids kept so far in a drop, to find duplicates of earlier blocks.

    Their hashes, sorted, make a block's lookup a binary search instead of a hash table rebuilt
    from every id seen (which grows with each block); each match is confirmed against the id
    itself, and a hash shared by two different ids falls back to an exact comparison.
    """

    def __init__(self) -> None:
        self.chunks: list[pa.Array] = []
        self.starts = [0]
        self.hashes = np.empty(0, np.uint64)
        self.where = np.empty(0, np.int64)  # per sorted hash: the id's index among those seen

    def first_sightings(self, ids: pa.Array) -> np.ndarray:
        """Which of `ids` occur here for the first time in the drop (the first of equal ids in
        this block, and none of an earlier block); those are remembered."""
        hashes = hash_strings(ids)
        _, firsts, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        first = np.zeros(len(ids), dtype=bool)
        first[firsts] = True
        repeats = np.flatnonzero(~first)
        if len(repeats) and not _all_equal(
            ids.take(pa.array(repeats)), ids.take(pa.array(firsts[inverse[repeats]]))
        ):
            first = _first_occurrences(ids)  # two ids of one hash: compare exactly
        first &= ~self._earlier(ids, hashes, first)
        self._add(ids.filter(pa.array(first)), hashes[first])
        return first

    def _earlier(self, ids: pa.Array, hashes: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        if not len(self.hashes):
            return np.zeros(len(ids), dtype=bool)
        pos = np.minimum(np.searchsorted(self.hashes, hashes), len(self.hashes) - 1)
        hit = (self.hashes[pos] == hashes) & candidates
        if hit.any():
            rows = np.flatnonzero(hit)
            index = self.where[pos[rows]]
            chunk = np.searchsorted(self.starts, index, side="right") - 1
            for c in np.unique(chunk):
                mine = chunk == c
                seen = self.chunks[c].take(pa.array(index[mine] - self.starts[c]))
                if not _all_equal(ids.take(pa.array(rows[mine])), seen):
                    # A hash shared by different ids: compare exactly.
                    everything = pa.concat_arrays(self.chunks)
                    return pc.is_in(ids, value_set=everything).to_numpy(zero_copy_only=False)
        return hit

    def _add(self, ids: pa.Array, hashes: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        pos = np.searchsorted(self.hashes, hashes[order])
        self.hashes = np.insert(self.hashes, pos, hashes[order])
        self.where = np.insert(self.where, pos, order + self.starts[-1])
        self.chunks.append(ids)
        self.starts.append(self.starts[-1] + len(ids))


def _all_equal(a: pa.Array, b: pa.Array) -> bool:
    return bool(pc.all(pc.equal(a, b)).as_py() is not False)


def _first_occurrences(ids: pa.Array) -> np.ndarray:
    """The first of equal values, exactly (a hash aggregation)."""
    firsts = (
        pa.table({"id": ids, "i": pa.array(np.arange(len(ids)))})
        .group_by("id", use_threads=False)
        .aggregate([("i", "min")])["i_min"]
    )
    first = np.zeros(len(ids), dtype=bool)
    first[firsts.to_numpy()] = True
    return first
