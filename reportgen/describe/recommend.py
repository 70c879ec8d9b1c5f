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

import math
import operator
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from scipy.stats import norm

from .. import featuretext as ft
from ..config import RecommendationRule, RecommendationsConfig
from ..errors import ConfigError
from ..result import ABTest, Kpis, Recommendation, Segment

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


# --------------------------------------------------------------------------- A/B sizing


def sample_size(
    p1: float, p2: float, alpha: float, power: float, control_share: float = 0.5
) -> tuple[int, int]:
    """(control, treatment) customers to detect p1 -> p2 (two-sided, normal approximation)."""
    if not 0 < p1 < 1 or not 0 < p2 < 1 or p1 == p2:
        raise ValueError("sample_size needs two different rates strictly between 0 and 1")
    r = (1 - control_share) / control_share
    pbar = (p1 + r * p2) / (1 + r)
    za = norm.ppf(1 - alpha / 2)
    zb = norm.ppf(power)
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


def ab_plan(
    baseline: float, lift: float, segment_size: int, settings: RecommendationsConfig
) -> ABTest:
    """The A/B test that detects `lift` over `baseline` in a segment of `segment_size`."""
    notes = []
    p1 = baseline
    if p1 < settings.baseline_floor:
        notes.append(
            f"The baseline response rate {ft.percent(baseline, 1)} is below the "
            f"{ft.percent(settings.baseline_floor, 1)} floor used for the calculation."
        )
        p1 = settings.baseline_floor
    p1 = min(p1, 0.95)
    p2 = _target(p1, lift)
    n_c, n_t = sample_size(p1, p2, settings.alpha, settings.power, settings.control_share)
    feasible = segment_size >= n_c + n_t
    mdl = min_detectable_lift(
        p1, segment_size, settings.alpha, settings.power, settings.control_share
    )
    if not feasible:
        alt = (
            f"a lift of +{math.ceil(100 * mdl)}% or more is detectable with the whole segment"
            if mdl is not None
            else "no lift up to the 99% ceiling is detectable with the segment alone"
        )
        notes.append(
            f"Too small: {segment_size:,} customers, the test needs {n_c + n_t:,} "
            f"({n_c:,} control + {n_t:,} treatment). Either aim for a bigger effect ({alt}), "
            "pool this segment with a similar one, or repeat the campaign over several sends "
            f"until {n_c + n_t:,} customers have been reached."
        )
    return ABTest(
        baseline_rate=round(p1, 6),
        target_rate=round(p2, 6),
        alpha=settings.alpha,
        power=settings.power,
        sample_size_per_arm=n_c,
        control_share=settings.control_share,
        segment_size=segment_size,
        feasible=feasible,
        suggestion=" ".join(notes),
        treatment_size=n_t,
        # rounded up, so the stated lift is still detectable
        min_detectable_lift=math.ceil(mdl * 1e4) / 1e4 if mdl is not None else None,
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
) -> list[Recommendation]:
    """Between min_per_segment and max_per_segment recommendations for one segment."""
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
        out.append(
            Recommendation(
                action=rule.action,
                rationale=rationale,
                ab_test=ab_plan(
                    kpis.response_rate,
                    rule.lift if rule.lift is not None else settings.target_lift,
                    kpis.size,
                    settings,
                ),
                triggers={
                    k: (round(float(v), 4) if not isinstance(v, str) else v)
                    for k, v in values.items()
                },
            )
        )
    return out
