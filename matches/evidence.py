"""What past decisions say about thresholds: pure functions, no database.

Input is one `(score, merged)` pair per group whose latest counting decision is a non-bulk merge/split (merged) or
reject (not merged). Scores fall into 0.05-wide bands; each band gets the share merged with a Wilson 95% interval.
A suggestion is made only where every band on its side has enough decisions and a bound that clears the target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

Z95 = 1.96
BAND_MILLI = 50  # band width in thousandths of a score: 0.05
MIN_DECISIONS = 30
DEFAULT_TARGET = 0.99


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n; (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # k == 0 and k == n give exactly 0 and 1 in exact arithmetic; floating point lands a hair off.
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return lower, upper


@dataclass(frozen=True)
class Band:
    lo_milli: int  # lower edge in thousandths, inclusive
    hi_milli: int  # upper edge in thousandths, exclusive (the last band includes 1.000)
    n: int
    merged: int
    lower: float
    upper: float

    @property
    def lo(self) -> Decimal:
        return Decimal(self.lo_milli) / 1000

    @property
    def hi(self) -> Decimal:
        return Decimal(self.hi_milli) / 1000

    @property
    def share(self) -> float | None:
        return self.merged / self.n if self.n else None


def _milli(score: float) -> int:
    """floor(score * 1000) on the score's shortest decimal form, as the queues' histogram bins it (0.15 -> 150)."""
    return int((Decimal(repr(float(score))) * 1000).to_integral_value(rounding=ROUND_FLOOR))


def band_index(score: float, width_milli: int = BAND_MILLI) -> int:
    """Band of a score; 1.0 belongs to the top band."""
    last = 1000 // width_milli - 1
    return min(_milli(score) // width_milli, last)


def bands(pairs: Iterable[tuple[float, bool]], width_milli: int = BAND_MILLI, z: float = Z95) -> list[Band]:
    """Every band from 0 to 1 (empty ones too), with decisions, merged count and Wilson interval."""
    count = 1000 // width_milli
    n = [0] * count
    k = [0] * count
    for score, merged in pairs:
        i = band_index(score, width_milli)
        n[i] += 1
        k[i] += 1 if merged else 0
    out = []
    for i in range(count):
        lower, upper = wilson(k[i], n[i], z)
        out.append(Band(i * width_milli, (i + 1) * width_milli, n[i], k[i], lower, upper))
    return out


def suggest_merge_min(bands_: list[Band], target: float = DEFAULT_TARGET, min_n: int = MIN_DECISIONS) -> Decimal | None:
    """Lowest band edge from which every band up to 1 has >= min_n decisions and a lower bound >= target."""
    edge = None
    for band in reversed(bands_):
        if band.n < min_n or band.lower < target:
            break
        edge = band.lo
    return edge


def suggest_reject_below(
    bands_: list[Band], target: float = DEFAULT_TARGET, min_n: int = MIN_DECISIONS
) -> Decimal | None:
    """Highest band edge below which every band down to 0 has >= min_n decisions and an upper bound <= 1 - target."""
    edge = None
    for band in bands_:
        # Compare with a little tolerance: 1 - 0.99 is 0.010000000000000009 in floating point.
        if band.n < min_n or band.upper > (1 - target) + 1e-12:
            break
        edge = band.hi
    return edge


def unanimous_needed(target: float, z: float = Z95) -> int:
    """Fewest decisions, all agreeing, whose Wilson bound clears the target: n / (n + z²) >= target."""
    return math.ceil(target * z * z / (1 - target) - 1e-9)


@dataclass(frozen=True)
class Evidence:
    bands: list[Band]
    decided: int
    target: float
    merge_min: Decimal | None
    reject_below: Decimal | None


def evidence(
    pairs: Iterable[tuple[float, bool]], target: float = DEFAULT_TARGET, min_n: int = MIN_DECISIONS
) -> Evidence:
    bs = bands(pairs)
    return Evidence(
        bands=bs,
        decided=sum(b.n for b in bs),
        target=target,
        merge_min=suggest_merge_min(bs, target, min_n),
        reject_below=suggest_reject_below(bs, target, min_n),
    )
