"""Stable segment identities across monthly runs.

A run's segments are matched to the previous run's by their centroids in *original units*
(numeric features in their own units, one-hot columns as shares), each feature divided by
its standard deviation among this run's fitted customers, so a distance of 1.0 means "one
standard deviation apart" whatever the scaling of either fit. The Hungarian algorithm
(`scipy.optimize.linear_sum_assignment`) finds the pairing with the smallest total distance;
a pair further apart than `history.match_threshold` is not a match. Matched segments take the
previous id (and, after interpretation, the previous persona name and colour); unmatched new
segments get ids never used before; previous segments left unmatched have vanished.

`PreviousRun` is the plain data the analysis needs about the previous run; `history.py`
reads it from the database, so the analysis itself never opens a file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ..scoring.features import DesignSpec
from ..scoring.model import centroids_original, to_original_units


@dataclass
class PreviousSegment:
    id: int
    size: int
    share: float
    persona: str | None = None
    slug: str | None = None
    colour: str | None = None
    #: centroid in original units: feature -> value
    centroid: dict[str, float] = field(default_factory=dict)
    #: numeric KPIs (Kpis fields) and profile means of the previous run
    kpis: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, float] = field(default_factory=dict)


@dataclass
class PreviousRun:
    """What this run needs to know about the latest earlier run (read from history.db)."""

    run_id: int
    period: str
    created_at: str
    folder: str
    #: the previous run's model.json (used to score this month's customers without refitting)
    model: dict[str, Any]
    segments: list[PreviousSegment]
    #: customer_id (str) -> previous segment id
    assignments: pd.Series
    #: every segment id used by this or any earlier run; fresh ids start above them
    used_ids: set[int] = field(default_factory=set)
    #: a run of the Spark engine keeps its customers' segments only in its folder's
    #: segments/ or its --segments-to path (Parquet), not in history.db: that folder or
    #: URI, and `assignments` is empty
    segments_folder: str | None = None

    def customer_segments(self) -> pd.Series:
        """customer_id (str) -> previous segment id, from history.db or segments/."""
        if self.segments_folder is None:
            return self.assignments
        if "://" in self.segments_folder and not self.segments_folder.startswith("file:"):
            from ..errors import InputError

            raise InputError(
                f"{self.segments_folder}: the {self.period} run's segments are there, which "
                "only the Spark engine reads — run this month with --engine spark"
            )
        rows = pd.read_parquet(self.segments_folder, columns=["customer_id", "segment"])
        return pd.Series(
            rows["segment"].astype(int).to_numpy(),
            index=pd.Index(rows["customer_id"].astype(str), name="customer_id"),
        )

    def segment(self, sid: int) -> PreviousSegment | None:
        return next((s for s in self.segments if s.id == sid), None)


def check_segments_of(found: dict, where, period: str, run_id: int) -> None:
    """`found` (a row's run_id and period) is of the run `run_id` of `period`: the
    segments a Spark run left at `where` were not replaced by a later run's."""
    from ..errors import InputError

    if str(found.get("run_id")) != str(run_id) or found.get("period") != period:
        raise InputError(
            f"{where}: holds the segments of run {found.get('run_id')} "
            f"({found.get('period')}), not of the {period} run {run_id} it was recorded "
            "for — restore that run's folder, or start a new history ([history] db = a new "
            "file)"
        )


@dataclass
class Match:
    """Result of matching this run's segments (by centroid row) to the previous run's."""

    #: segment id of each centroid row of this run
    ids: list[int]
    #: this run's id -> distance (standardised units) to the previous segment it matched
    distance: dict[int, float]
    #: ids of this run that match no previous segment
    new: list[int]
    #: previous ids no segment of this run matched
    vanished: list[int]
    threshold: float
    #: features the distance was measured on
    features: list[str]

    @property
    def matched(self) -> list[int]:
        return [i for i in self.ids if i not in self.new]


def match_segments(
    current: list[dict[str, float]],
    previous: dict[int, dict[str, float]],
    scale: dict[str, float],
    threshold: float,
    used_ids: set[int],
) -> Match:
    """Give every current centroid (original units, in row order) an id.

    `previous` maps previous id -> centroid; `scale` holds each feature's standard deviation;
    only features present in both runs (and in `scale`) count. Rows that match a previous
    centroid within `threshold` take its id; the others get fresh ids above every id in
    `used_ids` and `previous`, in row order.
    """
    prev_ids = sorted(previous)
    common = [
        f
        for f in (current[0] if current else {})
        if all(f in c for c in current)
        and all(f in previous[p] for p in prev_ids)
        and scale.get(f, 0) > 0
    ]
    ids: list[int | None] = [None] * len(current)
    distance: dict[int, float] = {}
    if current and prev_ids and common:
        s = np.array([scale[f] for f in common])
        a = np.array([[c[f] for f in common] for c in current]) / s
        b = np.array([[previous[p][f] for f in common] for p in prev_ids]) / s
        cost = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= threshold:
                ids[r] = prev_ids[c]
                distance[prev_ids[c]] = round(float(cost[r, c]), 4)
    next_id = max([*used_ids, *prev_ids, -1]) + 1
    new = []
    for r, sid in enumerate(ids):
        if sid is None:
            ids[r] = next_id
            new.append(next_id)
            next_id += 1
    final = [int(i) for i in ids if i is not None]
    return Match(
        ids=final,
        distance=distance,
        new=new,
        vanished=[p for p in prev_ids if p not in final],
        threshold=threshold,
        features=common,
    )


def feature_scales(original: np.ndarray, columns: list[str]) -> dict[str, float]:
    """Standard deviation of each design column in original units (rows = fitted customers)."""
    std = np.asarray(original, dtype=float).std(axis=0)
    return {c: float(v) for c, v in zip(columns, std, strict=True)}


def previous_centroids(previous: PreviousRun) -> dict[int, dict[str, float]]:
    """Previous centroids in original units: from its model, else as stored in history."""
    try:
        return centroids_original(previous.model)
    except (KeyError, TypeError, ValueError):
        return {s.id: s.centroid for s in previous.segments}


def identity_match(ids: list[int], previous: PreviousRun, threshold: float) -> Match:
    """The trivial match of a run scored with the previous run's own model."""
    prev = {s.id for s in previous.segments}
    return Match(
        ids=list(ids),
        distance={i: 0.0 for i in ids if i in prev},
        new=[i for i in ids if i not in prev],
        vanished=sorted(prev - set(ids)),
        threshold=threshold,
        features=[],
    )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def carry_over(segments: list, previous: PreviousRun, match: Match, fixed: set[int]) -> None:
    """Give matched segments the previous persona name, slug and colour.

    `segments` are result.Segment objects after interpretation; ids in `fixed` (names set in
    the configuration) keep the name interpretation gave them. A new segment whose derived
    name equals a carried-over one gets its id appended, so names stay unique.
    """
    carried: set[str] = set()
    for seg in segments:
        prev = previous.segment(seg.id) if seg.id not in match.new else None
        if prev is None or seg.persona is None or seg.id in fixed:
            continue
        if prev.persona:
            seg.persona.name = prev.persona
            seg.persona.slug = prev.slug or _slug(prev.persona)
            carried.add(prev.persona)
        if prev.colour:
            for owner in (seg.persona, seg):
                if hasattr(owner, "colour"):
                    owner.colour = prev.colour
                    break
    for seg in segments:
        if seg.persona is not None and seg.id in match.new and seg.persona.name in carried:
            seg.persona.name = f"{seg.persona.name} ({seg.id})"
            seg.persona.slug = f"{seg.persona.slug}-{seg.id}"


def relabel(
    centroids: np.ndarray,
    spec: DesignSpec,
    X_fit: np.ndarray,
    previous: PreviousRun,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, Match]:
    """Match freshly fitted centroids (design space of `spec`) to the previous run's.

    Returns the centroids reordered by segment id, their ids, and the match. Distances are
    measured in original units divided by the spread of this run's fitted customers.
    """
    columns = spec.columns
    current = [dict(zip(columns, row, strict=True)) for row in to_original_units(spec, centroids)]
    scale = feature_scales(to_original_units(spec, X_fit), columns)
    match = match_segments(
        current, previous_centroids(previous), scale, threshold, previous.used_ids
    )
    ids = np.asarray(match.ids, dtype=int)
    order = np.argsort(ids, kind="stable")
    return np.asarray(centroids)[order], ids[order], match
