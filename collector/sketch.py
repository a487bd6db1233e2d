"""A mergeable distribution sketch: a fixed log-bucket histogram (DDSketch's mapping, Masson,
Rim & Lee, "DDSketch: a fast and fully-mergeable quantile sketch with relative-error guarantees",
VLDB 2019, §2), with relative error at most ALPHA.

A positive value v falls in bucket i = ceil(log_γ v), γ = (1 + α) / (1 − α), which holds the
values in (γ^(i−1), γ^i]; the bucket's representative 2γ^i / (γ + 1) is within α of each of them.
Buckets are fixed, so two sketches merge by adding counts: an hour, a day, a week, any set of
operators is a merge, and the order of merging does not matter.

Quantiles interpolate between the representatives of the two order statistics around the rank,
as PostgreSQL's percentile_cont interpolates between the values themselves; so an estimate is
within α of percentile_cont over the same values (for values of one sign).

Keys are integers ordered like the values: 0 for zero, OFFSET + i for positive values and
−(OFFSET + i) for negative ones. SQL computes the same key (`key_sql`) so that the roll-up job
can count buckets inside the database.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LN_GAMMA = math.log(GAMMA)
OFFSET = 1 << 30  # |i| stays far below it for any double between 1e-300 and 1e300
_PAIR = struct.Struct("<iq")


def key(value: float) -> int:
    if value > 0:
        return OFFSET + math.ceil(math.log(value) / _LN_GAMMA)
    if value < 0:
        return -(OFFSET + math.ceil(math.log(-value) / _LN_GAMMA))
    return 0


def key_sql(column: str) -> str:
    """The same key, computed by SQLite (3.35+ math functions) or PostgreSQL."""
    step = repr(_LN_GAMMA)
    return (
        f"(CASE WHEN {column} > 0 THEN {OFFSET} + CAST(ceil(ln({column}) / {step}) AS INTEGER)"
        f" WHEN {column} < 0 THEN -({OFFSET} + CAST(ceil(ln(-{column}) / {step}) AS INTEGER))"
        " ELSE 0 END)"
    )


def value_of(k: int) -> float:
    """The representative value of bucket key k."""
    if k == 0:
        return 0.0
    i = abs(k) - OFFSET
    rep = 2 * GAMMA**i / (GAMMA + 1)
    return rep if k > 0 else -rep


class Sketch:
    """Counts per bucket key."""

    def __init__(self, counts: Mapping[int, int] | None = None) -> None:
        self.counts: dict[int, int] = dict(counts or {})

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, k: int, n: int = 1) -> None:
        self.counts[k] = self.counts.get(k, 0) + n

    def merge(self, other: Sketch) -> None:
        for k, n in other.counts.items():
            self.add(k, n)

    def merge_bytes(self, data: bytes) -> None:
        """Merge an encoded sketch without building it first (the query path's inner loop)."""
        counts = self.counts
        for k, n in _PAIR.iter_unpack(data):
            counts[k] = counts.get(k, 0) + n

    def encode(self) -> bytes:
        return b"".join(_PAIR.pack(k, n) for k, n in sorted(self.counts.items()) if n)

    @classmethod
    def decode(cls, data: bytes) -> Sketch:
        out = cls()
        out.merge_bytes(data)
        return out

    def quantiles(self, ps: Iterable[float]) -> dict[float, float]:
        """percentile_cont's estimates for each p in ps (the sketch must not be empty)."""
        ordered = sorted((k, n) for k, n in self.counts.items() if n)
        total = sum(n for _, n in ordered)
        if total == 0:
            raise ValueError("quantiles of an empty sketch")

        def at_rank(rank: int) -> float:
            seen = 0
            for k, n in ordered:
                seen += n
                if rank < seen:
                    return value_of(k)
            return value_of(ordered[-1][0])

        out = {}
        for p in ps:
            pos = p * (total - 1)
            low = int(pos)
            lo = at_rank(low)
            hi = at_rank(min(low + 1, total - 1))
            out[p] = lo + (hi - lo) * (pos - low)
        return out
