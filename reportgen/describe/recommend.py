"""Campaign recommendations from configurable rules, each with an A/B test plan.

Rules (reportgen/describe/recommendations.toml, or `recommendations.rules` in the config) map a
segment's figures to actions. Every recommendation carries the figures that triggered it and
an A/B test sized with the standard two-proportion power calculation (normal approximation,
pooled variance under H0, two-sided test):

    n_c = ( z_{1-a/2} * sqrt(p̄ q̄ (1 + 1/r)) + z_{1-b} * sqrt(p1 q1 + p2 q2 / r) )^2 / (p2 - p1)^2
    n_t = r * n_c,   r = (1 - control_share) / control_share,   p̄ = (p1 + r p2) / (1 + r)

With a 50/50 split (r = 1) this is the textbook
n = (z_{1-a/2} sqrt(2 p̄ q̄) + z_{1-b} sqrt(p1 q1 + p2 q2))^2 / (p2 - p1)^2 per arm.
p1 is the segment's response rate to the last campaign (raised to `baseline_floor` when
lower), p2 = p1 * (1 + lift) capped at 0.99. The test is feasible when the segment holds
n_c + n_t customers.
"""

from __future__ import annotations

import functools
import math
import operator
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scipy.stats import norm

from .. import featuretext as ft
from ..config import RecommendationRule, RecommendationsConfig
from ..errors import ConfigError
from ..result import ABTest, Kpis, Recommendation, Segment
from ..scoring.aggregates import ScoreTotals
from .value import value_of

_OPS = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
#: Kpis fields that are shares/rates (shown as percent in rationales)
_RATE_KPIS = {
    "customer_share",
    "revenue_share",
    "response_rate",
    "retention_risk",
    "complaint_rate",
    "deals_share",
    "any_campaign_acceptance",
}
MAX_TARGET = 0.99


def default_rules() -> list[RecommendationRule]:
    """The packaged rules (reportgen/describe/recommendations.toml)."""
    text = resources.files("reportgen.describe").joinpath("recommendations.toml").read_text("utf-8")
    return [RecommendationRule(**r) for r in tomllib.loads(text)["rule"]]


def action_code(action: str) -> str:
    """A picklist code from an action's first words: 'Curated catalogue mailing with ...'
    -> 'CURATED_CATALOGUE_MAILING_WITH' (at most four words, 40 characters)."""
    words = re.findall(r"[A-Za-z0-9]+", action.split(":")[0])[:4]
    return "_".join(words).upper()[:40] or "ACTION"


# --------------------------------------------------------------------------- A/B sizing


@functools.lru_cache(maxsize=64)
def _z(p: float) -> float:
    """The standard normal quantile (scipy's ppf costs ~0.2 ms; the sizing calls it 1,000s of
    times with the same two values)."""
    return float(norm.ppf(p))


def sample_size(
    p1: float, p2: float, alpha: float, power: float, control_share: float = 0.5
) -> tuple[int, int]:
    """(control, treatment) customers to detect p1 -> p2 (two-sided, normal approximation)."""
    if not 0 < p1 < 1 or not 0 < p2 < 1 or p1 == p2:
        raise ValueError("sample_size needs two different rates strictly between 0 and 1")
    r = (1 - control_share) / control_share
    pbar = (p1 + r * p2) / (1 + r)
    za, zb = _z(1 - alpha / 2), _z(power)
    root = za * math.sqrt(pbar * (1 - pbar) * (1 + 1 / r)) + zb * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2) / r
    )
    n_c = root**2 / (p2 - p1) ** 2
    return math.ceil(n_c - 1e-9), math.ceil(r * n_c - 1e-9)


def _target(p1: float, lift: float) -> float:
    return min(p1 * (1 + lift), MAX_TARGET)


def min_detectable_lift(
    p1: float, size: int, alpha: float, power: float, control_share: float
) -> float | None:
    """Smallest relative lift a test over `size` customers can detect (None: none can)."""
    top = MAX_TARGET / p1 - 1
    if top <= 0 or sum(sample_size(p1, _target(p1, top), alpha, power, control_share)) > size:
        return None
    lo, hi = 0.0, top
    for _ in range(60):
        mid = (lo + hi) / 2
        if mid > 0 and sum(sample_size(p1, _target(p1, mid), alpha, power, control_share)) <= size:
            hi = mid
        else:
            lo = mid
    return hi


def _sends(p1: float, lift: float, pool: int, settings: RecommendationsConfig):
    """(sends needed, control, treatment, target rate) to prove `lift` over `p1` in `pool`."""
    p2 = _target(p1, lift)
    n_c, n_t = sample_size(p1, p2, settings.alpha, settings.power, settings.control_share)
    sends = math.ceil((n_c + n_t) / pool) if pool > 0 else math.inf
    return sends, n_c, n_t, p2


def _plan_text(design, sends, pool, who, n_c, n_t, p1, p2, settings) -> str:
    proves = (
        f"proves {ft.percent(p1, 1)} → {ft.percent(p2, 1)} response "
        f"({1 - settings.alpha:.0%} confidence, {settings.power:.0%} power)"
    )
    if sends == 1:
        return (
            f"Send to {n_t:,} of the {pool:,} customers {who} and hold out {n_c:,} at random: "
            f"{proves}."
        )
    return (
        f"Repeat it over {sends} sends to the {pool:,} customers {who}, a random "
        f"{settings.control_share:.0%} held out each time, until {n_c:,} control and {n_t:,} "
        f"treated contacts are reached: {proves}. Customers answer repeated sends alike, so "
        "count this as the least the test needs."
    )


def ab_plan(
    baseline: float,
    lift: float,
    segment_size: int,
    settings: RecommendationsConfig,
    audience: tuple[int, float] | None = None,
) -> ABTest:
    """The A/B test that can run, with the fewest sends: among the `audience` (customers
    targeted by propensity, their mean propensity as the baseline) against a holdout of
    them, or in the whole segment at its `baseline` rate; over up to `settings.max_sends`
    sends. Else none, with the smallest lift the segment could prove (`pooled` can still
    find a test over several segments)."""
    notes = []
    p1 = baseline
    if p1 < settings.baseline_floor:
        notes.append(
            f"The baseline response rate {ft.percent(baseline, 1)} is below the "
            f"{ft.percent(settings.baseline_floor, 1)} floor used for the calculation."
        )
        p1 = settings.baseline_floor
    p1 = min(p1, 0.95)
    options = []
    if audience is not None and 0 < audience[0] < segment_size:
        top = min(max(audience[1], settings.baseline_floor), 0.95)
        options.append(("top", audience[0], top, "targeted"))
    options.append(("segment", segment_size, p1, "of the segment"))
    found = [
        (_sends(rate, lift, pool, settings), d, pool, rate, who) for d, pool, rate, who in options
    ]
    (sends, n_c, n_t, p2), design, pool, rate, who = min(found, key=lambda t: t[0][0])
    if sends > settings.max_sends:  # nothing runs: describe the segment-wide test
        (sends, n_c, n_t, p2), design, pool, rate, who = found[-1]
    mdl = min_detectable_lift(
        rate, pool * settings.max_sends, settings.alpha, settings.power, settings.control_share
    )
    if sends <= settings.max_sends:
        if sends > 1:
            design = "sends" if design == "segment" else "top-sends"
        plan = _plan_text(design, sends, pool, who, n_c, n_t, rate, p2, settings)
    else:
        design = "none"
        plan = f"No test can prove +{lift:.0%} here: it needs {n_c + n_t:,} contacts. " + (
            f"Even {settings.max_sends} sends to all {pool:,} customers {who} only prove a "
            f"lift of +{math.ceil(100 * mdl)} % or more."
            if mdl is not None
            else f"Not even {settings.max_sends} sends to all {pool:,} could prove any lift."
        )
    return ABTest(
        baseline_rate=round(rate, 6),
        target_rate=round(p2, 6),
        lift=lift,
        alpha=settings.alpha,
        power=settings.power,
        sample_size_per_arm=n_c,
        control_share=settings.control_share,
        segment_size=segment_size,
        feasible=design != "none",
        suggestion=" ".join(notes),
        treatment_size=n_t,
        # rounded up, so the stated lift is still detectable
        min_detectable_lift=math.ceil(mdl * 1e4) / 1e4 if mdl is not None else None,
        design=design,
        sends=sends if design != "none" else 0,
        plan=plan,
    )


def pooled(segments: list[Segment], settings: RecommendationsConfig) -> None:
    """A campaign recommended for several segments whose own tests cannot run is tested once
    on all their customers together (in place)."""
    by_action: dict[str, list[tuple[Segment, Recommendation]]] = {}
    for s in segments:
        for r in s.recommendations:
            by_action.setdefault(r.action, []).append((s, r))
    for group in by_action.values():
        if len(group) < 2 or all(r.ab_test.feasible for _, r in group):
            continue
        size = sum(s.size for s, _ in group)
        rate = sum(s.size * s.kpis.response_rate for s, _ in group) / size
        rate = min(max(rate, settings.baseline_floor), 0.95)
        lift = group[0][1].ab_test.lift
        sends, n_c, n_t, p2 = _sends(rate, lift, size, settings)
        if sends > settings.max_sends:
            continue
        names = ", ".join(s.persona.name if s.persona else f"segment {s.id}" for s, _ in group)
        who = f"of the {len(group)} segments it is recommended for ({names})"
        plan = _plan_text("pooled", sends, size, who, n_c, n_t, rate, p2, settings)
        for _, r in group:
            if not r.ab_test.feasible:
                r.ab_test = r.ab_test.model_copy(
                    update={
                        "design": "pooled",
                        "feasible": True,
                        "sends": sends,
                        "plan": plan,
                        "baseline_rate": round(rate, 6),
                        "target_rate": round(p2, 6),
                        "sample_size_per_arm": n_c,
                        "treatment_size": n_t,
                    }
                )


# --------------------------------------------------------------------------- rules


@dataclass
class Condition:
    key: str
    op: str
    value: float | str


def parse_condition(key: str, text: str, where: str) -> Condition:
    text = text.strip()
    for op in sorted(_OPS, key=len, reverse=True):
        if text.startswith(op):
            raw = text[len(op) :].strip()
            try:
                value: float | str = float(raw)
            except ValueError:
                value = raw.strip("'\"")
            if not raw:
                break
            return Condition(key, op, value)
    raise ConfigError(
        f"{where}: condition {key} = {text!r} is not understood — write an operator and a "
        'value, e.g. ">= 1.5" or "== web"'
    )


def segment_value(key: str, segment: Segment, kpis: Kpis, where: str) -> Any:
    """Look a condition key up: profile.<feature>, relative.<feature> or kpis.<name>[.<key>]."""
    head, _, rest = key.partition(".")
    if head in ("profile", "relative") and rest:
        table = segment.profile if head == "profile" else segment.relative
        return table.get(rest)
    if head == "kpis" and rest:
        name, _, sub = rest.partition(".")
        if name in Kpis.model_fields:
            v = getattr(kpis, name)
            return v.get(sub) if isinstance(v, dict) else v
    raise ConfigError(
        f"{where}: unknown field {key!r} — use profile.<feature>, relative.<feature> or "
        "kpis.<name> (e.g. relative.TotalSpend, kpis.retention_risk)"
    )


def _holds(value: Any, cond: Condition) -> bool:
    if value is None:
        return False
    if isinstance(cond.value, float):
        try:
            return bool(_OPS[cond.op](float(value), cond.value))
        except (TypeError, ValueError):
            return False
    return bool(_OPS[cond.op](str(value), cond.value))


def _op(op: str) -> str:
    return {">=": "≥", "<=": "≤", "!=": "≠", "==": "="}.get(op, op)


def _describe(key: str, value: Any, cond: Condition) -> str:
    """A triggering figure in words: "total spend 2.20× the average (rule ≥ 1.5)"."""
    head, _, name = key.partition(".")
    rule = f"{_op(cond.op)} {cond.value:g}" if isinstance(cond.value, float) else ""
    if head == "relative":
        return f"{ft.label(name).lower()} {value:.2f}× the average (rule {rule})"
    if head == "profile":
        if ft.kind(name) in ("share", "flag"):
            return (
                f"{ft.label(name).lower()} {ft.percent(float(value))} of customers "
                f"(rule {_op(cond.op)} {ft.percent(float(cond.value))})"
            )
        shown = ft.mean_value(name, float(value))
        return f"{ft.label(name).lower()} {shown} on average (rule {rule})"
    kpi = name.split(".")[0].replace("_", " ")
    if isinstance(value, str):
        shown = {"catalog": "the catalogue", "web": "the web", "store": "the store"}.get(
            value, value
        )
        return f"{kpi} is {shown}"
    if name.split(".")[0] in _RATE_KPIS:
        return (
            f"{kpi} {ft.percent(float(value), 1)} "
            f"(rule {_op(cond.op)} {ft.percent(float(cond.value), 1)})"
        )
    return f"{kpi} {ft.number(float(value), 1)} (rule {rule})"


def recommend(
    segment: Segment,
    kpis: Kpis,
    rules: list[RecommendationRule],
    settings: RecommendationsConfig,
    scores: tuple[ScoreTotals, int] | None = None,
) -> list[Recommendation]:
    """Between min_per_segment and max_per_segment recommendations for one segment, the
    most valuable first when `scores` (the propensity totals and the segment's position in
    them) give each an expected value (value.py)."""
    matched: list[tuple[RecommendationRule, dict[str, Any], list[str]]] = []
    fallbacks = []
    for i, rule in enumerate(rules):
        where = f"recommendations rule {i + 1} ({rule.action[:40]})"
        if not rule.when:
            fallbacks.append((rule, {}, []))
            continue
        conds = [parse_condition(k, v, where) for k, v in rule.when.items()]
        values = {c.key: segment_value(c.key, segment, kpis, where) for c in conds}
        if all(_holds(values[c.key], c) for c in conds):
            matched.append((rule, values, [_describe(c.key, values[c.key], c) for c in conds]))
    chosen = matched[: settings.max_per_segment]
    for fb in fallbacks:
        if len(chosen) >= min(settings.min_per_segment, settings.max_per_segment):
            break
        chosen.append(fb)
    out = []
    seen = set()
    for rule, values, reasons in chosen:
        if rule.action in seen:
            continue
        seen.add(rule.action)
        because = "; ".join(reasons) if reasons else "no specific rule matched this segment"
        rationale = f"{rule.rationale} Triggered by: {because}.".strip()
        value = value_of(segment, scores[1], scores[0], rule, settings) if scores else None
        audience = None
        if value is not None and value.scope == "top" and value.targeted:
            audience = (value.targeted, value.expected_responders / value.targeted)
        out.append(
            Recommendation(
                action=rule.action,
                code=rule.code or action_code(rule.action),
                rationale=rationale,
                ab_test=ab_plan(
                    kpis.response_rate,
                    rule.lift if rule.lift is not None else settings.target_lift,
                    kpis.size,
                    settings,
                    audience,
                ),
                triggers={
                    k: (round(float(v), 4) if not isinstance(v, str) else v)
                    for k, v in values.items()
                },
                value=value,
            )
        )
    if scores:  # the most valuable first (sorted is stable: rule order breaks ties)
        out.sort(key=lambda r: -r.value.expected_value)
    return out


def rank(segments: list[Segment]) -> None:
    """Number every recommendation of the report by expected value (1 = the most)."""
    every = [r for s in segments for r in s.recommendations if r.value is not None]
    for i, r in enumerate(sorted(every, key=lambda r: -r.value.expected_value)):
        r.rank = i + 1


def ab_note(segments: list[Segment], settings: RecommendationsConfig) -> str:
    """One sentence for the report when some campaigns' tests cannot run at this size."""
    blocked = [r for s in segments for r in s.recommendations if not r.ab_test.feasible]
    if not blocked:
        return ""
    total = sum(len(s.recommendations) for s in segments)
    stuck = [
        s
        for s in segments
        if s.recommendations and not any(r.ab_test.feasible for r in s.recommendations)
    ]
    lifts = [r.ab_test.min_detectable_lift for r in blocked if r.ab_test.min_detectable_lift]
    smallest = (
        f" (the smallest lift they could prove is +{math.ceil(100 * min(lifts))} % to "
        f"+{math.ceil(100 * max(lifts))} %)"
        if lifts
        else ""
    )
    names = [s.persona.name if s.persona else f"segment {s.id}" for s in stuck]
    lead = (
        f"No recommended campaign for {' or '.join(names)} can be proven by an A/B test at "
        f"this size. "
        if names
        else ""
    )
    return (
        f"{lead}{len(blocked)} of the {total} recommended campaigns cannot be tested as "
        f"assumed, even over {settings.max_sends} sends{smallest}: the segments are too small "
        "for the lift assumed. Test a campaign on several similar segments together, or aim "
        "for a bigger effect."
    )
