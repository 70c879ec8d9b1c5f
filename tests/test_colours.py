"""Segment colours under simulated colour-vision deficiencies (report/colours.py)."""

from __future__ import annotations

import pytest

from reportgen.errors import InputError
from reportgen.report.brand import load_brand
from reportgen.report.colours import (
    CHECKED,
    MIN_DELTA_E,
    collisions,
    difference,
    red_like,
    segment_palette,
)


@pytest.mark.parametrize("brand", ["default", "northwind"])
def test_the_packaged_brands_pass_the_colour_vision_check(brand):
    for k in range(2, CHECKED + 1):
        palette = load_brand(brand).palette(k)
        assert collisions(palette) == [], (k, palette)
        assert not [c for c in palette if red_like(c)], (k, palette)


def test_the_check_sees_what_the_old_palette_hid():
    # the former default filled segment 3 and 6 with Tableau's red and green: under
    # deuteranopia they are nearly the same colour (and red read as "worse")
    delta, vision = difference("#e15759", "#59a14f")
    assert delta < 2 and vision == "deuteranopia"
    assert red_like("#e15759") and not red_like("#e07b39") and not red_like("#1f4e79")
    assert collisions(["#1f4e79", "#e15759", "#59a14f"])[0][:2] == ("#e15759", "#59a14f")


def _brand(tmp_path, palette: str):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "brand.toml").write_text(
        f'name = "Acme"\nprimary = "#1f4e79"\naccent = "#e07b39"\npalette = {palette}\n',
        encoding="utf-8",
    )
    return folder


def test_a_brand_palette_that_collides_is_refused_naming_the_colours(tmp_path):
    with pytest.raises(InputError) as err:
        load_brand(_brand(tmp_path, '["#1f4e79", "#e07b39", "#9b59b6", "#3a5fcd"]'))
    message = str(err.value)
    assert "#9b59b6 and #3a5fcd look alike under" in message
    assert f"at least {MIN_DELTA_E:.0f} needed" in message and "\n" not in message


def test_a_red_palette_colour_is_refused(tmp_path):
    with pytest.raises(InputError, match="#d62728 is red-like"):
        load_brand(_brand(tmp_path, '["#1f4e79", "#d62728"]'))


def test_a_red_or_lookalike_accent_is_left_out_of_the_segment_colours():
    assert "#d62728" not in segment_palette("#1f4e79", "#d62728", 5)
    assert "#1f4e7a" not in segment_palette("#1f4e79", "#1f4e7a", 5)
    palette = segment_palette("#1f4e79", "#d62728", 6)
    assert palette[0] == "#1f4e79" and collisions(palette) == []
