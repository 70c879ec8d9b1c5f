"""The real-file figures in README.md, written from a run's summary.json so they cannot go stale.

    python docs/readme_figures.py                 # analyse ../shared/data/marketing_campaign.csv
    python docs/readme_figures.py --write         # ... and replace the blocks in README.md
    python docs/readme_figures.py --from RUN_DIR  # use that run folder's summary.json

README.md holds each block between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->`;
tests/test_docs.py regenerates them from a real-file run and requires README to match, so a
change that moves a figure must rerun this script (with --write).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REAL = ROOT.parent / "shared" / "data" / "marketing_campaign.csv"
sys.path.insert(0, str(ROOT))

from reportgen import wording  # noqa: E402
from reportgen.result import Summary  # noqa: E402


def _pct(x: float | None, digits: int = 0) -> str:
    return wording.percent(x, digits).replace("%", " %")


def _range(kpis, key: str, digits: int = 0) -> str:
    lo, hi = kpis.intervals[key]
    return f"{_pct(lo, digits).replace(' %', '')}–{_pct(hi, digits)}"


def model_block(s: Summary) -> str:
    m = s.model
    choice = m.k_choice
    used = s.data_quality.rows_used_for_fit
    return (
        f"On the real file (`../shared/data/marketing_campaign.csv`) the default run picks "
        f"**k = {m.k}** ({choice.reason}; the best silhouette alone would be k = "
        f"{choice.best_silhouette_k}) with **stability ARI "
        f"{m.metrics['stability_ari']:.2f}** ({len(m.stability_scores)} resamples, minimum "
        f"{m.metrics['stability_ari_min']:.2f}); {used:,} of {s.data_quality.rows_in:,} "
        f"customers are used for fitting."
    )


def personas_block(s: Summary) -> str:
    e = s.everyone
    o = s.overall
    expl = s.explanations
    issues = s.data_quality.data_issues
    lines = [
        f"Default run on `../shared/data/marketing_campaign.csv`. Sizes count every customer; "
        f"averages, rates and shares leave out the "
        f"{sum(issues.values())} records that are not believable customers ("
        + ", ".join(f"{n} {reason}" for reason, n in issues.items())
        + f"). Everyone: income {wording.number(e.avg_income)}, spend "
        f"{wording.number(e.avg_spend)}, age {o['Age']:.0f}, {o['Children']:.2f} children, "
        f"{o['NumWebVisitsMonth']:.1f} web visits a month, {o['CampaignEngagement']:.2f} earlier "
        f"offers accepted, {_pct(e.response_rate, 1)} response to the last campaign, "
        f"{_pct(e.deals_share)} of purchases on discount. Ranges are 95 % intervals.",
        "",
        "| id | persona | customers | share of spend | income | avg spend | age | children "
        "| web visits / month | earlier offers accepted | last response | deals share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for seg in s.segments:
        k, p = seg.kpis, seg.profile
        lines.append(
            f"| {seg.id} | {seg.persona.name} | {seg.size:,} ({_pct(k.customer_share, 1)}) "
            f"| {_pct(k.revenue_share, 1)} ({_range(k, 'revenue_share', 1)}) "
            f"| {wording.number(k.avg_income)} | {wording.number(k.avg_spend)} | {p['Age']:.0f} "
            f"| {p['Children']:.2f} | {p['NumWebVisitsMonth']:.1f} "
            f"| {p['CampaignEngagement']:.2f} "
            f"| {_pct(k.response_rate, 1)} ({_range(k, 'response_rate', 1)}) "
            f"| {_pct(k.deals_share)} |"
        )
    same = [
        f"{seg.id}" for seg in s.segments if seg.kpis.versus_average.get("response_rate") == "same"
    ]
    pairs = s.kpi_tests["response_rate"].indistinguishable
    lines += [
        "",
        "Response rates no different from the average customer's (the interval covers it): "
        + (f"segment{'s' if len(same) > 1 else ''} {', '.join(same)}." if same else "none.")
        + " Pairs of segments whose response rates do not differ from each other (χ² test, "
        "p ≥ 0.05): " + (", ".join(f"{a} and {b}" for a, b in pairs) if pairs else "none") + ".",
        " ".join(t.text for t in s.kpi_tests.values()),
        "",
        f"Drivers: {expl.method} LIME/SHAP agreement on the top "
        f"{expl.lime['agreement_top']} features: {expl.lime_shap_agreement:.2f} (two random "
        f"rankings: {expl.lime_shap_chance:.2f}). Customers near a segment boundary: "
        f"{_pct(s.boundary['share'], 1)}.",
        "",
        "Rules in words (precision / recall, every segment):",
        "",
    ]
    for seg in s.segments:
        r = seg.rule
        lines.append(f'- {seg.id}: "{r.text}" ({r.precision:.2f} / {r.recall:.2f})')
    return "\n".join(lines).rstrip()


def targeting_block(s: Summary) -> str:
    r = s.propensity["response"]
    within = r.within_segment_auc.values()
    lines = [
        f"Response propensity on the real file: {r.method[0].lower()}{r.method[1:]}; "
        f"{r.folds}-fold "
        f"cross-validation repeated {r.repeats} times on {r.cv_rows:,} customers ({r.positives} "
        f"responders). Out of fold: **AUC {r.auc:.2f}** (± {r.auc_folds_sd:.3f} between repeats; "
        f"the segment alone: {r.segment_only_auc:.2f}; inside the segments "
        f"{min(within):.2f}–{max(within):.2f}), Brier score {r.brier:.3f} against "
        f"{r.brier_constant:.3f} for a constant, calibration gap "
        f"{100 * r.calibration_error:.1f} percentage points "
        f"(slope {r.calibration_slope:.2f}{', recalibrated' if r.recalibrated else ''}); the top "
        f"tenth responds {r.top_decile_lift:.1f}× as often as everyone. "
        f"{s.propensity['churn'].reason}",
        "",
        "| rank | campaign | segment | whom | expected responders | expected value | A/B test |",
        "|---|---|---|---|---|---|---|",
    ]
    ranked = sorted(
        ((rec, seg) for seg in s.segments for rec in seg.recommendations if rec.rank),
        key=lambda t: t[0].rank,
    )
    for rec, seg in ranked[:5]:
        v, ab = rec.value, rec.ab_test
        lo, hi = v.expected_responders_interval
        test = (
            f"{ab.design}, {ab.sends} send{'s' if ab.sends > 1 else ''}"
            if ab.feasible
            else f"none (provable lift ≥ +{ab.min_detectable_lift:.0%})"
        )
        lines.append(
            f"| {rec.rank} | {rec.action} | {seg.persona.name} | {v.targeted:,} "
            f"({v.scope}) | {v.expected_responders:.0f} ({lo:.0f}–{hi:.0f}) "
            f"| {wording.signed(v.expected_value)} | {test} |"
        )
    lines += ["", s.ab_note or "Every recommended campaign has an A/B test that can run."]
    return "\n".join(lines).rstrip()


BLOCKS = {"model": model_block, "personas": personas_block, "targeting": targeting_block}


def blocks(summary: Summary) -> dict[str, str]:
    return {name: make(summary) for name, make in BLOCKS.items()}


def readme_blocks(text: str) -> dict[str, str]:
    """The blocks as README.md has them now."""
    out = {}
    for name in BLOCKS:
        m = re.search(rf"<!-- figures:{name} -->\n(.*?)\n<!-- /figures:{name} -->", text, re.S)
        if m:
            out[name] = m[1]
    return out


def replace(text: str, new: dict[str, str]) -> str:
    for name, body in new.items():
        pattern = rf"(<!-- figures:{name} -->\n).*?(\n<!-- /figures:{name} -->)"
        text, n = re.subn(pattern, lambda m, b=body: m[1] + b + m[2], text, flags=re.S)
        if n != 1:
            raise SystemExit(f"README.md: no <!-- figures:{name} --> block")
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="run", type=Path, help="a run folder (its summary.json)")
    ap.add_argument("--write", action="store_true", help="replace the blocks in README.md")
    opts = ap.parse_args()
    if opts.run:
        summary = Summary.loads((opts.run / "summary.json").read_text(encoding="utf-8"))
    else:
        from reportgen.config import Config
        from reportgen.input.load import load_customers
        from reportgen.pipeline import analyse

        config = Config()
        summary = analyse(load_customers(REAL, config), config).summary
    new = blocks(summary)
    if opts.write:
        README.write_text(replace(README.read_text(encoding="utf-8"), new), encoding="utf-8")
    else:
        for name, body in new.items():
            print(f"<!-- figures:{name} -->\n{body}\n<!-- /figures:{name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
