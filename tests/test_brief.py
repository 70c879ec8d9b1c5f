"""The persona brief (describe/brief.py) and the persona page an executive reads alone.

Unit tests build segments by hand; the page tests use the shared rendered runs
(report_runs.py): every persona page leads with a headline and a "so what", shows exactly one
primary action, no SHAP/LIME vocabulary, and no PDF text under 8.5 pt.
"""

from __future__ import annotations

import math

import pytest
import report_runs
from bs4 import BeautifulSoup

from reportgen.describe import brief
from reportgen.result import ABTest, Kpis, KpiTest, Recommendation, Segment, Summary, Value

MIN_PT = 8.5
#: chart-explanation vocabulary that belongs to the analyst sections, not to a persona page
ANALYST_TERMS = ("SHAP", "LIME", "probability points", "fidelity", "silhouette")


def _kpis(size=100, share=0.1, spend=0.1, retention=0.3, versus=None) -> Kpis:
    return Kpis(
        size=size,
        customer_share=share,
        revenue_share=spend,
        avg_spend=500.0,
        response_rate=0.15,
        campaign_acceptance={},
        retention_risk=retention,
        complaint_rate=0.01,
        preferred_channel="web",
        versus_average=versus or {},
    )


def _rec(
    ev=120.0, interval=(60.0, 180.0), feasible=True, action="Send the catalogue."
) -> Recommendation:
    ab = ABTest(
        baseline_rate=0.1,
        target_rate=0.12,
        alpha=0.05,
        power=0.8,
        sample_size_per_arm=400,
        feasible=feasible,
    )
    value = Value(
        target="everyone",
        targeted=250,
        scope="segment",
        expected_responders=25.0,
        incremental_responders=5.0,
        value_per_response=100.0,
        incremental_revenue=500.0,
        cost=50.0,
        expected_value=ev,
        expected_value_interval=list(interval),
    )
    return Recommendation(action=action, rationale="Because.", ab_test=ab, value=value)


def _segment(share=0.1, spend=0.1, recs=None, **kpi) -> Segment:
    return Segment(
        id=3,
        size=100,
        share=share,
        profile={},
        relative={},
        kpis=_kpis(share=share, spend=spend, **kpi),
        recommendations=recs if recs is not None else [_rec()],
    )


def _summary(segments, **extra) -> Summary:
    fields = {"changes": None, "boundary": {}, "everyone": None, "kpi_tests": {}, **extra}
    return Summary.model_construct(segments=segments, **fields)


def test_the_headline_weighs_value_against_headcount():
    assert brief.headline(_segment(0.18, 0.40)) == (
        "18% of customers bring 40% of spend: worth 2.2× their number"
    )
    assert brief.headline(_segment(0.29, 0.061)) == "29% of customers, but only 6.1% of spend"
    assert brief.headline(_segment(0.27, 0.32)) == "27% of customers and 32% of spend"


def test_the_so_what_is_the_first_action_with_its_value_and_range():
    text = brief.so_what(_segment())
    assert text == (
        "Do first: Send the catalogue. Expected extra profit 120 (95 % range 60 to 180), "
        "contacting 250 customers."
    )
    losing = brief.so_what(_segment(recs=[_rec(ev=-40.0, interval=(-90.0, 10.0))]))
    assert "expected to lose 40" in losing and "test it small or not at all" in losing
    assert "keep it in the regular programme" in brief.so_what(_segment(recs=[]))


def test_risks_come_from_the_figures_only():
    quiet = _segment()
    assert brief.risks(quiet, _summary([quiet])) == []
    worse = _segment(
        versus={"retention_risk": "above"},
        recs=[_rec(interval=(-20.0, 200.0), feasible=False)],
    )
    summary = _summary(
        [worse],
        kpi_tests={
            "retention_risk": KpiTest(
                kpi="retention_risk", segments_p_value=0.001, signal=True, text=""
            )
        },
        everyone=_kpis(retention=0.2),
        boundary={"per_segment": {"3": 0.4}},
    )
    found = brief.risks(worse, summary)
    assert len(found) == 4, found
    assert "retention risk" in found[0] and "(30% against 20%)" in found[0]
    assert found[1].startswith("40% of them sit close to another segment")
    assert "cannot be proven" in found[2] and "includes a loss" in found[3]
    # a KPI whose segments do not differ in this data is never a risk
    summary.kpi_tests["retention_risk"].signal = False
    assert not any("retention" in r for r in brief.risks(worse, summary))


def _persona_pages(run) -> dict[str, BeautifulSoup]:
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    return {a["id"]: a for a in soup.select("article.persona")}


@pytest.fixture(scope="module", params=["sample", "real"])
def run(request) -> report_runs.Run:
    return report_runs.rendered(request.param)


def test_every_persona_page_leads_with_a_headline_and_one_action(run):
    pages = _persona_pages(run)
    assert len(pages) == len(run.analysis.summary.segments)
    for seg in run.analysis.summary.segments:
        page = next(p for p in pages.values() if p.h2.get_text() == seg.persona.name)
        assert page.select_one(".brief-headline").get_text() == seg.brief.headline
        assert page.select_one(".so-what").get_text().startswith(seg.brief.so_what)
        headings = [h.get_text() for h in page.select("h3")]
        assert headings.count("Primary action") == 1 and "Risks" in headings
        assert len(page.select(".rec.primary")) == 1 and not page.select(".rec:not(.primary)")
        text = page.get_text(" ")
        assert not [t for t in ANALYST_TERMS if t in text], seg.persona.name


def _font_sizes(pdf_path) -> list[tuple[float, str]]:
    """(effective size in pt, text) of every string drawn in the PDF."""
    from pypdf import PdfReader

    out = []
    for page in PdfReader(pdf_path).pages:

        def visit(text, cm, tm, _font, size, out=out):
            if not text.strip():
                return
            a, b = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
            out.append((size * math.hypot(a, b), text.strip()))

        page.extract_text(visitor_text=visit)
    return out


LOGO_WORDS = {"reportgen", "ANALYTICS"}  # the brand mark's artwork, not text to read


def test_no_persona_pdf_text_is_under_8_5_pt(run):
    logo_words = LOGO_WORDS
    for pdf in sorted((run.folder / "personas").glob("*.pdf")):
        sizes = [(s, t) for s, t in _font_sizes(pdf) if t.replace(" ", "") not in logo_words]
        assert sizes, pdf.name
        small = sorted({(round(s, 2), t[:40]) for s, t in sizes if s < MIN_PT - 0.01})
        assert not small, (pdf.name, small[:10])


def test_no_report_pdf_text_is_under_8_5_pt(run):
    """The whole report: body, notes, captions, tables, the appendix and the text inside
    every chart (drawn at 8.5 pt or more and never stretched or shrunk in the PDF)."""
    sizes = [
        (s, t)
        for s, t in _font_sizes(run.folder / "report.pdf")
        if t.replace(" ", "") not in LOGO_WORDS
    ]
    assert len(sizes) > 1000
    small = sorted({(round(s, 2), t[:40]) for s, t in sizes if s < MIN_PT - 0.01})
    assert not small, small[:10]


def test_the_insights_are_the_figures_in_sentences(run):
    summary = run.analysis.summary
    insights = summary.insights
    assert 3 <= len(insights) <= 5
    if summary.concentration:
        assert insights[0] == summary.concentration
    ranked = [(r, s) for s in summary.segments for r in s.recommendations if r.rank == 1]
    ((best, seg),) = ranked
    top = next(i for i in insights if i.startswith("The most valuable campaign"))
    assert seg.persona.name in top and f"{best.value.expected_value:,.0f}" in top
    quiet = [k for k, t in summary.kpi_tests.items() if not t.signal]
    if quiet:
        assert any("do not differ" in i or "does not differ" in i for i in insights)
    page = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    shown = [li.get_text() for li in page.select("#executive-summary ul.insights li")]
    assert shown == insights


def test_amounts_carry_the_configured_currency():
    from reportgen.config import ReportConfig
    from reportgen.report.templating import environment

    template = environment().from_string("{{ a | money(true) }} / {{ b | money }}")
    assert template.render(a=239.4, b=1356, currency="EUR") == "+239\u00a0EUR / 1,356\u00a0EUR"
    assert template.render(a=-61, b=None, currency="") == "−61 / –"
    text = brief.so_what(_segment(), "EUR")
    assert "extra profit 120\u00a0EUR (95 % range 60 to 180\u00a0EUR)" in text
    with pytest.raises(ValueError):
        ReportConfig(currency="<b>EUR</b>")


def test_the_glossary_defines_the_terms_the_analyst_sections_use(run):
    page = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    terms = " ".join(dt.get_text() for dt in page.select("dl.glossary dt"))
    analyst = " ".join(
        page.find(id=i).get_text(" ") for i in ("drivers", "targeting", "methodology")
    )
    for term in (
        "Calinski",
        "Davies",
        "Fidelity",
        "Index",
        "Silhouette",
        "Stability",
        "AUC",
        "Brier",
        "Lift",
        "Minimum detectable lift",
        "SHAP",
        "LIME",
        "DBSCAN",
    ):
        if term.lower() in analyst.lower():
            assert term.lower() in terms.lower(), term
