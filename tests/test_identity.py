"""Stable segment identities: Hungarian matching, fresh ids, carried-over persona names."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from monthly_helpers import fast_config, skip_tsne

from reportgen.config import load_config
from reportgen.errors import InputError
from reportgen.fitting.identity import PreviousRun, PreviousSegment, carry_over, match_segments
from reportgen.ops import history
from reportgen.ops.runner import run_job
from reportgen.result import Persona, Segment

UNIT = {"a": 1.0, "b": 1.0}


def _pts(*rows):
    return [{"a": float(a), "b": float(b)} for a, b in rows]


def test_permuted_noisy_centroids_keep_their_ids():
    previous = {0: {"a": 0, "b": 0}, 1: {"a": 10, "b": 0}, 2: {"a": 0, "b": 10}}
    current = _pts((0.3, 9.8), (0.1, -0.2), (9.7, 0.4))
    m = match_segments(current, previous, UNIT, threshold=1.5, used_ids={0, 1, 2})
    assert m.ids == [2, 0, 1]
    assert m.new == [] and m.vanished == []
    assert m.distance[2] == pytest.approx(math.hypot(0.3, 0.2), abs=1e-4)
    assert m.features == ["a", "b"]


def test_hungarian_minimises_the_total_distance_not_row_by_row():
    # Greedy row-by-row would give row 0 (a=1.1) to id 1 (0.9 away) and leave row 1 with
    # id 0 (3.5 away); the optimal pairing is 0 <- row 0 (1.1) and 1 <- row 1 (1.5).
    previous = {0: {"a": 0.0, "b": 0.0}, 1: {"a": 2.0, "b": 0.0}}
    m = match_segments(_pts((1.1, 0), (3.5, 0)), previous, UNIT, threshold=2.0, used_ids=set())
    assert m.ids == [0, 1]
    assert m.distance == {0: pytest.approx(1.1), 1: pytest.approx(1.5)}


def test_new_segment_gets_an_id_never_used_and_vanished_is_reported():
    previous = {0: {"a": 0, "b": 0}, 1: {"a": 10, "b": 0}, 5: {"a": 0, "b": 10}}
    current = _pts((0.2, 0), (50, 50), (0, 10.3))
    # ids 0..6 were used by earlier runs (6 vanished before): the new segment gets 7.
    m = match_segments(current, previous, UNIT, threshold=1.5, used_ids=set(range(7)))
    assert m.ids == [0, 7, 5]
    assert m.new == [7]
    assert m.vanished == [1]
    assert m.matched == [0, 5]


def test_threshold_is_in_standard_deviations():
    previous = {0: {"a": 0.0, "b": 0.0}}
    current = _pts((3.0, 0.0))
    assert match_segments(current, previous, UNIT, 1.5, set()).ids == [1]  # 3 sd: new
    wide = {"a": 2.0, "b": 1.0}
    m = match_segments(current, previous, wide, 1.5, set())  # 1.5 sd: still the same
    assert m.ids == [0] and m.distance[0] == pytest.approx(1.5)


def test_only_features_of_both_runs_count():
    previous = {0: {"a": 0.0, "b": 0.0}, 1: {"a": 5.0, "b": 0.0}}
    current = [{"a": 5.1, "b": 0.0, "c": 100.0}, {"a": 0.1, "b": 0.0, "c": -100.0}]
    m = match_segments(current, previous, {"a": 1.0, "b": 1.0, "c": 1.0}, 1.5, set())
    assert m.features == ["a", "b"]
    assert m.ids == [1, 0]


def _seg(sid: int, name: str) -> Segment:
    return Segment(
        id=sid,
        size=10,
        share=0.1,
        profile={},
        relative={},
        persona=Persona(name=name, slug=name.lower().replace(" ", "-"), description="", traits=[]),
    )


def test_carry_over_names_keeps_configured_names_and_unique_names():
    previous = PreviousRun(
        run_id=1,
        period="2026-10",
        created_at="",
        folder="",
        model={},
        segments=[
            PreviousSegment(id=0, size=10, share=0.5, persona="Affluent Loyal Spenders"),
            PreviousSegment(id=1, size=10, share=0.5, persona="Budget Families"),
            PreviousSegment(id=2, size=10, share=0.5, persona="Old Name"),
        ],
        assignments=pd.Series(dtype=int),
    )
    m = match_segments(
        _pts((0, 0), (5, 0), (9, 9), (20, 20)),
        {0: {"a": 0, "b": 0}, 1: {"a": 5, "b": 0}, 2: {"a": 9, "b": 9}},
        UNIT,
        1.5,
        {0, 1, 2},
    )
    segments = [
        _seg(0, "Premium Buyers"),
        _seg(1, "Deal Hunters"),
        _seg(2, "Set In Config"),
        _seg(3, "Affluent Loyal Spenders"),  # new segment, derived name already taken
    ]
    carry_over(segments, previous, m, fixed={2})
    names = [s.persona.name for s in segments]
    assert names == [
        "Affluent Loyal Spenders",
        "Budget Families",
        "Set In Config",
        "Affluent Loyal Spenders (3)",
    ]
    assert segments[0].persona.slug == "affluent-loyal-spenders"


# --------------------------------------------------------------------------- through the engine


@pytest.fixture
def fake_personas(monkeypatch):
    """Stand-in interpretation: names that change with segment sizes, as derived names may."""
    import reportgen.describe.interpret

    def interpret(analysis, *_args):
        for seg in analysis.summary.segments:
            seg.persona = Persona(
                name=f"Persona {seg.id} of {seg.size}",
                slug=f"persona-{seg.id}-{seg.size}",
                description="",
                traits=[],
            )

    monkeypatch.setattr(reportgen.describe.interpret, "interpret", interpret)


def _config(tmp_path, k: int):
    return load_config(fast_config(tmp_path, f"k = {k}\n"), environ={})


def _summary(folder):
    return json.loads((folder / "summary.json").read_text())


def _segments_csv(folder):
    return pd.read_csv(folder / "segments.csv", dtype={"customer_id": str}).set_index("customer_id")


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    """800 synthetic customers of four clear types (K-Means with k = 4 is stable on them)."""
    from reportgen.input.synth import write_synthetic

    return write_synthetic(tmp_path_factory.mktemp("synth") / "customers.tsv", 800, 1)


def test_refit_restores_ids_and_names_when_the_size_order_changes(
    tmp_path, synth_file, monkeypatch, fake_personas
):
    skip_tsne(monkeypatch)
    config = _config(tmp_path, 4)
    oct_dir = run_job(synth_file, tmp_path / "out/2026-10", config, None, "2026-10", False)
    oct_rows = _segments_csv(oct_dir)
    # Next month half the customers of the largest segment are gone: fitted anew, segments
    # are numbered by size, so without matching the ids would shift.
    data = pd.read_csv(synth_file, sep="\t", dtype={"ID": str})
    largest = oct_rows.index[oct_rows["segment"] == 0]
    drop = set(pd.Series(largest).sample(frac=0.5, random_state=3))
    nov_file = tmp_path / "nov.tsv"
    data[~data["ID"].isin(drop)].to_csv(nov_file, sep="\t", index=False)
    nov_dir = run_job(
        nov_file, tmp_path / "out/2026-11", config, None, "2026-11", False, refit=True
    )
    nov, old = _summary(nov_dir), _summary(oct_dir)
    assert nov["changes"]["mode"] == "refit"
    assert nov["changes"]["new_segments"] == [] and nov["changes"]["vanished_segments"] == []
    old_names = {s["id"]: s["persona"]["name"] for s in old["segments"]}
    for seg in nov["segments"]:
        assert seg["persona"]["name"] == old_names[seg["id"]]  # carried over, not re-derived
    sizes = {s["id"]: s["size"] for s in nov["segments"]}
    assert sizes[0] < max(sizes.values())  # segment 0 is no longer the largest ...
    rows = _segments_csv(nov_dir).join(oct_rows[["segment"]].add_suffix("_oct"), how="inner")
    agreement = (rows["segment"] == rows["segment_oct"]).mean()
    assert agreement > 0.9  # ... yet its customers are still called segment 0
    model = json.loads((nov_dir / "model.json").read_text())
    assert model["segment_names"] == {str(k): v for k, v in old_names.items()}


def test_new_segments_get_fresh_ids_and_vanished_ids_are_not_reused(
    tmp_path, small_file, monkeypatch, fake_personas
):
    skip_tsne(monkeypatch)
    out = tmp_path / "out"
    run_job(small_file, out / "2026-09", _config(tmp_path, 4), None, "2026-09", False)
    s3 = _summary(
        run_job(small_file, out / "2026-10", _config(tmp_path, 3), None, "2026-10", False, True)
    )
    ids3 = {s["id"] for s in s3["segments"]}
    vanished = set(s3["changes"]["vanished_segments"])
    assert len(ids3) == 3 and len(vanished) >= 1 and ids3 | vanished >= {0, 1, 2, 3}
    gone = [s["name"] for s in s3["changes"]["segments"] if s["status"] == "vanished"]
    said = s3["changes"]["highlights"][1]
    assert all(f"{name} (" in said for name in gone) and "no longer appears" in said
    s4 = _summary(
        run_job(small_file, out / "2026-11", _config(tmp_path, 4), None, "2026-11", False, True)
    )
    ids4 = {s["id"] for s in s4["segments"]}
    new = set(s4["changes"]["new_segments"])
    assert len(new) >= 1
    assert min(new) >= 4  # above every id used so far, even the vanished ones
    assert not (new & vanished)
    assert ids4 - new <= ids3
    statuses = {s["id"]: s["status"] for s in s4["changes"]["segments"]}
    assert all(statuses[i] == "new" for i in new)
    assert s4["changes"]["highlights"][1].startswith("New segment")
    # listed in history, each run's segments as recorded
    runs = history.list_runs(out / "history.db")
    assert [r["period"] for r in runs] == ["2026-09", "2026-10", "2026-11"]
    assert [r["mode"] for r in runs] == ["first", "refit", "refit"]
    assert {s["id"] for s in runs[2]["segments"]} == ids4


def test_scored_mode_keeps_the_model_and_refuses_a_different_forced_k(
    tmp_path, small_file, monkeypatch, fake_personas
):
    skip_tsne(monkeypatch)
    out = tmp_path / "out"
    first = run_job(small_file, out / "2026-10", _config(tmp_path, 4), None, "2026-10", False)
    second = run_job(small_file, out / "2026-11", _config(tmp_path, 4), None, "2026-11", False)
    m1 = json.loads((first / "model.json").read_text())
    m2 = json.loads((second / "model.json").read_text())
    for part in ("cleaning", "outliers", "design", "reference_date", "centroids", "segment_ids"):
        assert m1[part] == m2[part]
    s2 = _summary(second)
    assert s2["changes"]["mode"] == "scored"
    assert s2["model"]["k_choice"]["method"] == "previous model"
    assert "2026-10" in s2["model"]["k_choice"]["reason"]
    mig = s2["changes"]["migration"]
    assert mig["moved"] == 0 and mig["stayed"] == mig["in_both"] == 300
    assert s2["changes"]["highlights"][0].startswith("None of the 300 customers")
    with pytest.raises(InputError, match="add --refit"):
        run_job(small_file, out / "2026-12", _config(tmp_path, 3), None, "2026-12", False)
    other = _config(tmp_path, 4)
    other.features.clustering = ["Income", "TotalSpend", "Recency"]
    with pytest.raises(InputError, match="features.clustering .* add --refit"):
        run_job(small_file, out / "2026-12", other, None, "2026-12", False)
    refit = run_job(small_file, out / "2026-12", other, None, "2026-12", False, refit=True)
    assert _summary(refit)["model"]["features"] == ["Income", "TotalSpend", "Recency"]
    assert _summary(refit)["changes"]["matched_on"] == ["Income", "TotalSpend"]


def test_scored_segment_nobody_falls_into_is_reported_as_vanished(
    tmp_path, small_file, monkeypatch, fake_personas
):
    skip_tsne(monkeypatch)
    out = tmp_path / "out"
    first = run_job(small_file, out / "2026-10", _config(tmp_path, 4), None, "2026-10", False)
    rows = _segments_csv(first)
    names = {s["id"]: s["persona"]["name"] for s in _summary(first)["segments"]}
    keep = set(rows.index[rows["segment"] != 3])
    data = pd.read_csv(small_file, sep="\t", dtype={"ID": str})
    nov = tmp_path / "nov.tsv"
    data[data["ID"].isin(keep)].to_csv(nov, sep="\t", index=False)
    second = run_job(nov, out / "2026-11", _config(tmp_path, 4), None, "2026-11", False)
    summary = _summary(second)
    assert [s["id"] for s in summary["segments"]] == [0, 1, 2]
    changes = summary["changes"]
    assert changes["vanished_segments"] == [3]
    assert changes["migration"]["departed_customers"] == len(rows) - len(keep)
    assert (
        f"{names[3]} ({len(rows) - len(keep)} customers last time) no longer appears"
        in (changes["highlights"][1])
    )
    model = json.loads((second / "model.json").read_text())
    assert model["segment_ids"] == [0, 1, 2, 3]  # still in the model: it may come back
    assert model["segment_names"]["3"] == names[3]
