"""Paired comparisons of two sets of per-item scores: the difference, its 95% interval, McNemar.

Two targets (or one target with two prompts) answered the same items; a difference is only
meaningful on the items BOTH answered and could be scored on (a failed request or a missing
reference on either side drops the item from that comparison, and n says how many remain).

compare(a, b, resamples, seed) with a, b = {item id: value or None}:
    n                items with a value on both sides
    a, b             means over those n items;   delta = b - a
    ci_low, ci_high  paired bootstrap 95% interval of delta: the n item differences
                     d_i = b_i - a_i are resampled with replacement `resamples` times
                     (numpy Generator seeded with `seed`, so a rerun prints the same
                     interval), percentile interval (2.5th, 97.5th) of the resampled means
    spans_zero       ci_low <= 0 <= ci_high: the data do not show a difference
    mcnemar_p        with binary=True (0/1 values: accuracy, format, refusal): McNemar's test on the discordant pairs,
                     n01 = items only b got right, n10 = items only a got right;
                     exact two-sided binomial p = min(1, 2·P(X <= min(n01, n10))),
                     X ~ Bin(n01 + n10, 1/2), when n01 + n10 < 25; else the chi-square
                     statistic with continuity correction (|n01 - n10| - 1)² / (n01 + n10),
                     1 degree of freedom (p = erfc(√(x/2))). 1.0 when nothing is discordant.
    mde              the smallest true difference these n items detect with 80% power at a two-sided
                     5% level: (z_0.975 + z_0.80) · s_d / √n, s_d the standard deviation of the item
                     differences (normal approximation of the paired test; None when n < 2 or
                     no item differs, so s_d = 0 and the items carry no variance to judge by)
    underpowered     |delta| < mde: a difference smaller than the one this n can tell apart from
                     noise; neither a shown difference nor evidence of none
None when no item has a value on both sides.

Run as (two lists of 0/1 outcomes, same items in the same order):
    python -m evaluation.paired 1,1,0,1,0,1 1,1,1,1,1,1
"""
from __future__ import annotations

import math
import sys
from typing import Mapping, Optional
from core.stage import command_status

RESAMPLES = 2000
Z_POWER = 2.8016  # z_0.975 + z_0.80 = 1.95996 + 0.84162 (scipy.stats.norm.ppf; checked in the tests)
EXACT_BELOW = 25  # discordant pairs under which McNemar's p is the exact binomial one


def mcnemar(n01: int, n10: int) -> float:
    """Two-sided McNemar p-value for the discordant counts (see the module docstring)."""
    m = n01 + n10
    if m == 0:
        return 1.0
    if m < EXACT_BELOW:
        tail = sum(math.comb(m, k) for k in range(min(n01, n10) + 1)) / 2 ** m
        return min(1.0, 2 * tail)
    x = (abs(n01 - n10) - 1) ** 2 / m
    return math.erfc(math.sqrt(x / 2))


def bootstrap(diffs: list[float], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile 95% interval of the mean of `diffs` under resampling with replacement."""
    import numpy as np
    values = np.asarray(diffs, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def min_detectable(diffs: list[float]) -> Optional[float]:
    """Z_POWER · s_d / √n (see the module docstring); None when it cannot be estimated."""
    if len(diffs) < 2:
        return None
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1))
    return Z_POWER * sd / math.sqrt(len(diffs)) if sd > 0 else None


def compare(a: Mapping[str, Optional[float]], b: Mapping[str, Optional[float]],
            resamples: int = RESAMPLES, seed: int = 0, binary: bool = False) -> Optional[dict]:
    ids = [i for i in a if a[i] is not None and b.get(i) is not None]
    if not ids:
        return None
    xa, xb = [float(a[i]) for i in ids], [float(b[i]) for i in ids]
    diffs = [y - x for x, y in zip(xa, xb)]
    low, high = bootstrap(diffs, resamples, seed)
    delta = sum(diffs) / len(ids)
    mde = min_detectable(diffs)
    out = {"n": len(ids), "a": sum(xa) / len(ids), "b": sum(xb) / len(ids), "delta": delta,
           "ci_low": low, "ci_high": high, "spans_zero": low <= 0 <= high,
           "mde": mde, "underpowered": abs(delta) < mde if mde is not None else None}
    if binary:
        n01 = sum(1 for x, y in zip(xa, xb) if x == 0 and y == 1)
        n10 = sum(1 for x, y in zip(xa, xb) if x == 1 and y == 0)
        out.update(n01=n01, n10=n10, mcnemar_p=mcnemar(n01, n10))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("Run as")[1], file=sys.stderr)
        return 2
    a, b = ([float(v) for v in arg.split(",")] for arg in argv)
    print(compare({str(i): v for i, v in enumerate(a)}, {str(i): v for i, v in enumerate(b)},
                  binary=all(v in (0.0, 1.0) for v in a + b)))
    return 0


if __name__ == "__main__":
    sys.exit(command_status(main, sys.argv[1:]))
