"""How sure each figure is: 95 % intervals and tests, from sums that merge across chunks.

Every interval here is computed from per-segment counts, sums and sums of squares
(aggregates.py), so it covers every customer of a table read in chunks, with no second pass:

* rates (response, earlier-campaign acceptance, retention risk, complaints) and the customer
  share: Wilson score intervals;
* means (spend, income): the normal approximation, mean ± z·s/√n;
* the share of spend: the delta method for a ratio of sums, R = S_seg / S_all, whose variance
  is ((1−R)²·Q_seg + R²·(Q_all − Q_seg)) / S_all² (Q = sum of squared spend).

They are sampling intervals *given the segments*: how far each figure could move with another
draw of customers from the same population. How far the segments themselves move is the
stability check's job. tests/test_intervals.py checks them against a percentile bootstrap
on the real file.

`differs(value, interval, average)` says whether a segment is distinguishable from the
average customer; `homogeneity` (a χ² test over the segments) and `uniform_test` (a
Kolmogorov-Smirnov test) say whether a KPI carries any signal at all.
"""

from __future__ import annotations

import math

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion successes / n (0, 1 when n = 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(total: float, squares: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Normal-approximation interval of a mean from its sum and sum of squares."""
    if n <= 0:
        return math.nan, math.nan
    mean = total / n
    if n < 2:
        return mean, mean
    variance = max(0.0, (squares - n * mean * mean) / (n - 1))
    half = z * math.sqrt(variance / n)
    return mean - half, mean + half


def share_of_sum_interval(
    part: float, part_squares: float, total: float, total_squares: float, z: float = Z95
) -> tuple[float, float]:
    """Delta-method interval of part / total, where part sums some of total's customers."""
    if total <= 0:
        return 0.0, 1.0
    r = part / total
    variance = ((1 - r) ** 2 * part_squares + r * r * (total_squares - part_squares)) / total**2
    half = z * math.sqrt(max(variance, 0.0))
    return max(0.0, r - half), min(1.0, r + half)


def differs(interval: tuple[float, float] | list[float], average: float | None) -> str:
    """ "above" / "below" the average, or "same" when the interval covers it."""
    lo, hi = interval
    if average is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "same"
    if lo > average:
        return "above"
    if hi < average:
        return "below"
    return "same"


def homogeneity(successes: np.ndarray, sizes: np.ndarray) -> float:
    """p-value of the χ² test that every segment has the same rate (1.0 when untestable)."""
    from scipy.stats import chi2_contingency

    successes = np.asarray(successes, dtype=float)
    sizes = np.asarray(sizes, dtype=float)
    keep = sizes > 0
    table = np.vstack([successes[keep], sizes[keep] - successes[keep]])
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(chi2_contingency(table, correction=False)[1])


def uniform_test(values: np.ndarray) -> float:
    """p-value of the Kolmogorov-Smirnov test that `values` are uniform on their whole-number
    range (e.g. days since the last purchase, 0-99), with a half-unit continuity shift."""
    from scipy.stats import kstest, uniform

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 20:
        return 1.0
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return 0.0
    # whole-number values spread evenly over lo..hi are uniform on [lo - 0.5, hi + 0.5)
    jitter = np.random.default_rng(0).uniform(-0.5, 0.5, len(values))
    return float(kstest(values + jitter, uniform(loc=lo - 0.5, scale=hi - lo + 1).cdf).pvalue)
