"""The trends page: with three or more periods on record, segment sizes and KPIs over the
last twelve periods (summary.trends), the chart and section in the report, and the e-mail's
headline."""

from __future__ import annotations

import report_runs
from bs4 import BeautifulSoup
from monthly_helpers import fast_config, invoke, run_cli

from reportgen.describe.trends import WINDOW, build


def _summary():
    summary = report_runs.analysed(report_runs.data_file("sample")).summary.model_copy(deep=True)
    assert summary.run.period == "2024-06"
    return summary


def _past(summary, shares: list[float], periods: list[str], customers: int = 1000):
    """Earlier runs' segments: segment 0 at `shares[i]`, the others at their shares of this
    run, scaled to share what is left."""
    now = next(s for s in summary.segments if s.id == 0).share
    out = []
    for period, share in zip(periods, shares, strict=True):
        segs = []
        for s in summary.segments:
            part = share if s.id == 0 else s.share * (1 - share) / (1 - now)
            kpis = {"revenue_share": 0.2, "response_rate": 0.1}
            segs.append({"id": s.id, "size": int(part * customers), "share": part, "kpis": kpis})
        out.append((period, segs))
    return out


def test_fewer_than_three_periods_make_no_trend():
    summary = _summary()
    assert build([], summary) is None
    assert build(_past(summary, [0.3], ["2024-05"]), summary) is None


def test_a_move_beyond_noise_is_the_headline_and_a_steady_one_is_not():
    summary = _summary()
    now = next(s for s in summary.segments if s.id == 0).share
    moved = build(_past(summary, [now + 0.15, now + 0.1], ["2024-04", "2024-05"]), summary)
    assert moved.periods == ["2024-04", "2024-05", "2024-06"]
    row = next(s for s in moved.segments if s.id == 0)
    assert row.share[:2] == [now + 0.15, now + 0.1] and row.share[2] == now
    zero = next(s for s in summary.segments if s.id == 0).persona.name
    assert moved.headline.startswith(f"{zero} shrank from"), moved.headline
    assert "since 2024-04" in moved.headline
    # the same shares within a hair: no finding
    steady = build(_past(summary, [now + 0.001, now - 0.001], ["2024-04", "2024-05"]), summary)
    assert "held steady" in steady.headline


def test_a_segment_missing_in_a_period_has_a_gap_and_the_window_is_twelve():
    summary = _summary()
    months = [f"2023-{m:02d}" for m in range(1, 13)] + ["2024-01", "2024-02"]
    past = _past(summary, [0.3] * len(months), months)
    past[-1] = (past[-1][0], [s for s in past[-1][1] if s["id"] != 0])  # absent in 2024-02
    trends = build(past, summary)
    assert len(trends.periods) == WINDOW and trends.periods[-1] == "2024-06"
    assert trends.periods[0] == "2023-04"
    row = next(s for s in trends.segments if s.id == 0)
    assert row.share[-2] is None and row.share[-1] is not None


def test_three_monthly_runs_give_a_trends_page_and_the_email_headline(tmp_path, monkeypatch):
    from reportgen.ops.deliver import build_message

    data = report_runs.data_file("sample")
    config = fast_config(tmp_path, f'\n[history]\ndb = "{(tmp_path / "h.db").as_posix()}"\n')
    for period in ("2024-04", "2024-05"):
        assert run_cli(data, tmp_path / period, period, config).exit_code == 0
    out = tmp_path / "2024-06"
    result = invoke(
        ["--quiet", "--config", config, "run", "--data", data, "--out", out, "--period", "2024-06"]
    )
    assert result.exit_code == 0, result.output
    from reportgen.result import Summary

    summary = Summary.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary.trends is not None
    assert summary.trends.periods == ["2024-04", "2024-05", "2024-06"]
    assert {s.id for s in summary.trends.segments} == {s.id for s in summary.segments}
    # the same data three times: the shares did not move, and the headline says so
    assert "held steady" in summary.trends.headline
    soup = BeautifulSoup((out / "report.html").read_text(encoding="utf-8"), "html.parser")
    section = soup.find("section", id="trends")
    assert section is not None and soup.select_one('nav.toc a[href="#trends"]') is not None
    assert summary.trends.headline in section.get_text(" ")
    assert section.find("img") is not None  # the chart
    assert len(section.select("table.trends tbody tr")) == len(summary.trends.segments)
    msg = build_message(out, ["anna@example.com"], sender="reports@example.com")
    assert summary.trends.headline in msg.get_body(("plain",)).get_content()


def test_a_first_run_has_no_trends_page():
    run = report_runs.rendered("sample")
    assert run.analysis.summary.trends is None
    soup = BeautifulSoup((run.folder / "report.html").read_text(encoding="utf-8"), "html.parser")
    assert soup.find("section", id="trends") is None
