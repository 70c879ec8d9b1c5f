"""SUMMARISE: per-segment sums and counts that merge exactly across chunks.

Each chunk of scored customers becomes a `SegmentTotals` (`from_chunk`); totals of chunks are
added (`merge`), in any grouping, and give the same sizes, shares, means and rates as one
pass over the whole table. Everything the documents state about *all* customers — segment
sizes and shares, profile means, KPIs, category mixes, exclusion and cleaning counts — is
computed from these totals; quantiles and pictures come from the stated chart sample.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import schema
from .clean import CleaningReport
from .score import SCORE_COLUMNS, Scored

#: earlier campaigns: "accepted any of them" is counted per customer, not derivable from sums
CAMPAIGNS = ["AcceptedCmp1", "AcceptedCmp2", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5"]


#: propensity histogram: bins of this width from 0 to 1 (a top-N target is a bin edge)
BINS = 100


@dataclass
class ScoreTotals:
    """Per-segment sums of one per-customer score (a propensity): mergeable like the rest."""

    sums: np.ndarray  # [k] sum of the score
    squares: np.ndarray  # [k] sum of its squares (sum p(1-p) = the responders' variance)
    #: [k] sum of score x the customer's total spend (spend at risk, for churn)
    spend: np.ndarray
    #: [k, BINS] customers and their score sum in each bin [b/BINS, (b+1)/BINS)
    counts: np.ndarray
    bin_sums: np.ndarray

    @classmethod
    def of(cls, slot: np.ndarray, k: int, p: np.ndarray, spend: np.ndarray) -> ScoreTotals:
        p = np.asarray(p, dtype=float)
        b = np.clip((p * BINS).astype(int), 0, BINS - 1)
        cell = slot * BINS + b
        return cls(
            np.bincount(slot, weights=p, minlength=k),
            np.bincount(slot, weights=p * p, minlength=k),
            np.bincount(slot, weights=p * spend, minlength=k),
            np.bincount(cell, minlength=k * BINS).reshape(k, BINS).astype(np.int64),
            np.bincount(cell, weights=p, minlength=k * BINS).reshape(k, BINS),
        )

    def merge(self, other: ScoreTotals) -> ScoreTotals:
        return ScoreTotals(
            self.sums + other.sums,
            self.squares + other.squares,
            self.spend + other.spend,
            self.counts + other.counts,
            self.bin_sums + other.bin_sums,
        )

    def pooled(self) -> ScoreTotals:
        one = lambda a: a.sum(axis=0, keepdims=True)  # noqa: E731
        return ScoreTotals(
            one(self.sums), one(self.squares), one(self.spend), one(self.counts), one(self.bin_sums)
        )


@dataclass
class SegmentTotals:
    """Sums over the customers of each segment (rows of `sums` follow `segment_ids`)."""

    segment_ids: list[int]
    columns: list[str]
    #: [k] customers the figures are computed on (every customer but those with a data
    #: issue: an age over 100, a placeholder income, a negative amount)
    count: np.ndarray
    sums: np.ndarray  # [k, columns]
    squares: np.ndarray  # [k, columns] sums of squares (for the intervals of means)
    any_campaign: np.ndarray  # [k] customers who accepted at least one earlier campaign
    recency_over: np.ndarray  # [k] customers with Recency above the retention threshold
    #: category column -> value -> [k] counts
    categories: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    exclusions: Counter = field(default_factory=Counter)
    imputed: Counter = field(default_factory=Counter)
    merged: dict[str, Counter] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    #: [k] customers with a data issue: in the segment's size, never in its figures
    flagged: np.ndarray | None = None
    #: data issue -> customers
    issues: Counter = field(default_factory=Counter)
    #: per-customer scores (segments.csv column, e.g. "propensity") -> their sums
    scores: dict[str, ScoreTotals] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.flagged is None:
            self.flagged = np.zeros(len(self.segment_ids), dtype=np.int64)

    @property
    def sizes(self) -> np.ndarray:
        """[k] every customer assigned to each segment."""
        return self.count + self.flagged

    @classmethod
    def from_chunk(
        cls,
        features: pd.DataFrame,
        cleaned: pd.DataFrame,
        labels: np.ndarray,
        segment_ids: list[int],
        recency_days: int,
        reasons: np.ndarray | None = None,
        report: CleaningReport | None = None,
        issues: np.ndarray | None = None,
        scores: dict[str, np.ndarray] | None = None,
    ) -> SegmentTotals:
        """`issues`: each row's data issue ('' for none; a categorical is read by its codes);
        rows with one are counted in `flagged` and left out of every sum. `scores`: name ->
        each row's score (a propensity)."""
        scores = {n: np.asarray(v, dtype=float) for n, v in (scores or {}).items()}
        k = len(segment_ids)
        position = {s: i for i, s in enumerate(segment_ids)}
        present, codes = np.unique(np.asarray(labels), return_inverse=True)
        slot = np.array([position[int(s)] for s in present], dtype=int)[codes.ravel()]
        flagged = np.zeros(k, dtype=np.int64)
        issue_counts: Counter = Counter()
        if issues is not None:
            issues = pd.Categorical(issues)
            codes = np.asarray(issues.codes)
            none = list(issues.categories).index("") if "" in issues.categories else -2
            bad = codes != none
            if bad.any():
                flagged = np.bincount(slot[bad], minlength=k).astype(np.int64)
                found = pd.Series(np.asarray(issues)[bad]).value_counts()
                issue_counts.update({str(a): int(b) for a, b in found.items()})
                keep = ~bad
                features, cleaned, slot = features[keep], cleaned[keep], slot[keep]
                scores = {n: v[keep] for n, v in scores.items()}

        def per_segment(mask: np.ndarray | None = None, weights=None) -> np.ndarray:
            """Customers (or `weights` summed) of each segment, among those in `mask`."""
            where = slot if mask is None else slot[mask]
            w = weights if mask is None or weights is None else weights[mask]
            return np.bincount(where, weights=w, minlength=k)

        values = features.to_numpy(dtype=float)
        sums = np.column_stack([per_segment(weights=values[:, j]) for j in range(values.shape[1])])
        squares = np.column_stack(
            [per_segment(weights=values[:, j] ** 2) for j in range(values.shape[1])]
        )
        count = per_segment().astype(np.int64)
        spend = features["TotalSpend"].to_numpy(dtype=float) if "TotalSpend" in features else None
        if spend is None:
            spend = np.zeros(len(slot))
        earlier = [c for c in CAMPAIGNS if c in features]
        none = np.zeros(len(slot), dtype=bool)
        accepted = (features[earlier].sum(axis=1) > 0).to_numpy() if earlier else none
        over = (features["Recency"] > recency_days).to_numpy() if "Recency" in features else none
        categories = {}
        for c in schema.CATEGORY_COLUMNS:
            if c in cleaned:
                text = cleaned[c].astype(str).to_numpy()
                categories[c] = {
                    str(v): per_segment(text == v).astype(np.int64) for v in np.unique(text)
                }
        exclusions = Counter()
        if reasons is not None:
            r = pd.Series(reasons)
            exclusions.update({str(a): int(b) for a, b in r[r != ""].value_counts().items()})
        imputed, merged, dropped = Counter(), {}, []
        if report is not None:
            imputed.update(report.imputed)
            merged = {c: Counter(v) for c, v in report.categories_merged.items()}
            dropped = list(report.dropped_columns)
        return cls(
            list(segment_ids),
            list(features.columns),
            count,
            sums,
            squares,
            per_segment(accepted).astype(np.int64),
            per_segment(over).astype(np.int64),
            categories,
            exclusions,
            imputed,
            merged,
            dropped,
            flagged,
            issue_counts,
            {n: ScoreTotals.of(slot, k, v, spend) for n, v in scores.items()},
        )

    @classmethod
    def of_scored(cls, result: Scored, segment_ids: list[int], recency_days: int) -> SegmentTotals:
        """The totals of one scored chunk (score.py's `Scored`)."""
        customers = result.customers
        return cls.from_chunk(
            result.features,
            result.cleaned,
            customers["segment"].to_numpy(),
            segment_ids,
            recency_days,
            customers["exclusion_reason"].to_numpy(dtype=object),
            result.report,
            customers["data_issue"],
            {c: customers[c].to_numpy() for c in SCORE_COLUMNS.values() if c in customers},
        )

    def merge(self, other: SegmentTotals) -> SegmentTotals:
        """The totals of both (same segments and columns)."""
        if other.segment_ids != self.segment_ids or other.columns != self.columns:
            raise ValueError("cannot merge totals of different segments or columns")
        k = len(self.segment_ids)
        categories = {}
        for c in set(self.categories) | set(other.categories):
            a, b = self.categories.get(c, {}), other.categories.get(c, {})
            categories[c] = {
                v: a.get(v, np.zeros(k, np.int64)) + b.get(v, np.zeros(k, np.int64))
                for v in sorted(set(a) | set(b))
            }
        merged = {c: Counter(self.merged.get(c, {})) for c in set(self.merged) | set(other.merged)}
        for c, counts in other.merged.items():
            merged[c].update(counts)
        return SegmentTotals(
            self.segment_ids,
            self.columns,
            self.count + other.count,
            self.sums + other.sums,
            self.squares + other.squares,
            self.any_campaign + other.any_campaign,
            self.recency_over + other.recency_over,
            categories,
            self.exclusions + other.exclusions,
            self.imputed + other.imputed,
            merged,
            self.dropped_columns or other.dropped_columns,
            self.flagged + other.flagged,
            self.issues + other.issues,
            {n: t.merge(other.scores[n]) for n, t in self.scores.items()},
        )

    # ---------------------------------------------------------------- what they give

    @property
    def n(self) -> int:
        """Every customer of the table (with or without a data issue)."""
        return int(self.sizes.sum())

    def means(self) -> pd.DataFrame:
        """[segment id x column] mean of every column (NaN for an empty segment)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            values = self.sums / self.count[:, None]
        return pd.DataFrame(values, index=self.segment_ids, columns=self.columns)

    def overall(self) -> pd.Series:
        """Mean of every column over all customers (without a data issue)."""
        total = self.sums.sum(axis=0)
        return pd.Series(total / max(int(self.count.sum()), 1), index=self.columns)

    def category_shares(self, position: int) -> dict[str, dict[str, float]]:
        """Category column -> value -> share within one segment (values present only)."""
        size = self.count[position]
        out = {}
        for c, counts in self.categories.items():
            present = {v: int(n[position]) for v, n in counts.items() if n[position] > 0}
            ordered = sorted(present.items(), key=lambda t: (-t[1], t[0]))
            out[c] = {v: round(n / size, 4) for v, n in ordered} if size else {}
        return out

    def pooled(self) -> SegmentTotals:
        """All customers as one segment (id 0): the 'average customer'."""
        k1 = lambda a: np.asarray([a.sum()])  # noqa: E731
        return SegmentTotals(
            [0],
            self.columns,
            k1(self.count),
            self.sums.sum(axis=0, keepdims=True),
            self.squares.sum(axis=0, keepdims=True),
            k1(self.any_campaign),
            k1(self.recency_over),
            {c: {v: k1(n) for v, n in d.items()} for c, d in self.categories.items()},
            flagged=k1(self.flagged),
            issues=Counter(self.issues),
            scores={n: t.pooled() for n, t in self.scores.items()},
        )


#: a customer is near a segment boundary when the next-nearest centre is at most this much
#: farther away than their own (margin_to_next_segment <= NEAR * distance_to_centroid)
NEAR = 0.1


@dataclass
class NearCounts:
    """Customers per segment id, and how many of them are near a segment boundary."""

    ids: np.ndarray
    counts: np.ndarray
    hits: np.ndarray

    @classmethod
    def of(cls, customers: pd.DataFrame) -> NearCounts:
        near = (
            customers["margin_to_next_segment"].to_numpy()
            <= NEAR * customers["distance_to_centroid"].to_numpy()
        )
        seg = customers["segment"].to_numpy()
        ids, counts = np.unique(seg, return_counts=True)
        hits = np.bincount(np.searchsorted(ids, seg[near]), minlength=len(ids))
        return cls(ids.astype(np.int64), counts.astype(np.int64), hits.astype(np.int64))

    def merge(self, other: NearCounts) -> NearCounts:
        ids = np.union1d(self.ids, other.ids)
        counts = np.zeros(len(ids), dtype=np.int64)
        hits = np.zeros(len(ids), dtype=np.int64)
        for part in (self, other):
            at = np.searchsorted(ids, part.ids)
            counts[at] += part.counts
            hits[at] += part.hits
        return NearCounts(ids, counts, hits)
