"""Segment colours every reader can tell apart.

Each segment keeps one colour everywhere. The palette starts with the brand's primary and
accent colours and is filled from colour-blind-friendly colours (Okabe & Ito; Paul Tol's
muted set; Tableau 10), each chosen so that it stays distinct from those already taken for
normal vision and under simulated deuteranopia, protanopia and tritanopia (colorspacious'
model of Machado, Oliveira & Fernandes 2009 at full severity; differences in CAM02-UCS).
Red-like colours are never segment colours: red marks a clearly worse figure in the report.
A brand's own `palette` that fails the check is refused with a message naming the colours.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from ..errors import InputError
from .brand import _shade

#: vision -> colorspacious' CVD type (None: normal vision)
VISIONS = {
    "normal vision": None,
    "deuteranopia": "deuteranomaly",
    "protanopia": "protanomaly",
    "tritanopia": "tritanomaly",
}
#: smallest colour difference (CAM02-UCS ΔE) between two segments, in every vision
MIN_DELTA_E = 12.0
#: preferred distance when filling the palette, and the hue step (degrees, normal vision)
#: that makes a colour a new hue rather than a lighter or darker one of a hue taken
WELL_APART = 20.0
HUE_GAP = 35.0
#: the check guarantees this many segments distinct colours for every reader; the palette
#: goes on with the farthest pool colours up to FILLED, then repeats them as darker shades
CHECKED = 6
FILLED = 10

#: the fill colours, in order of preference (mid lightness, not red, not grey)
POOL = [
    "#0072b2",  # Okabe-Ito blue
    "#e69f00",  # Okabe-Ito orange
    "#009e73",  # Okabe-Ito bluish green
    "#56b4e9",  # Okabe-Ito sky blue
    "#cc79a7",  # Okabe-Ito reddish purple
    "#332288",  # Tol indigo
    "#44aa99",  # Tol teal
    "#999933",  # Tol olive
    "#aa4499",  # Tol purple
    "#117733",  # Tol green
    "#ddcc77",  # Tol sand
    "#4e79a7",  # Tableau blue
    "#59a14f",  # Tableau green
    "#b07aa1",  # Tableau purple
    "#9c755f",  # Tableau brown
    "#edc948",  # Tableau yellow
]


def _rgb(colour: str) -> np.ndarray:
    c = colour.lstrip("#")
    return np.array([int(c[i : i + 2], 16) / 255 for i in (0, 2, 4)])


@functools.lru_cache(maxsize=512)
def _seen(colour: str) -> np.ndarray:
    """The colour in CAM02-UCS as each vision sees it (one row per vision)."""
    from colorspacious import cspace_convert

    rgb = _rgb(colour)
    rows = []
    for cvd in VISIONS.values():
        shown = rgb
        if cvd is not None:
            space = {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}
            shown = np.clip(cspace_convert(rgb, space, "sRGB1"), 0, 1)
        rows.append(cspace_convert(shown, "sRGB1", "CAM02-UCS"))
    return np.array(rows)


def difference(a: str, b: str) -> tuple[float, str]:
    """The smallest ΔE between two colours over the visions, and that vision."""
    per_vision = np.linalg.norm(_seen(a.lower()) - _seen(b.lower()), axis=1)
    i = int(np.argmin(per_vision))
    return float(per_vision[i]), list(VISIONS)[i]


@functools.lru_cache(maxsize=512)
def _lch(colour: str) -> tuple[float, float, float]:
    from colorspacious import cspace_convert

    light, chroma, hue = cspace_convert(_rgb(colour), "sRGB1", "CIELCh")
    return float(light), float(chroma), float(hue)


def _hue_gap(a: str, b: str) -> float:
    gap = abs(_lch(a)[2] - _lch(b)[2]) % 360
    return min(gap, 360 - gap)


def red_like(colour: str) -> bool:
    """A saturated colour with a red hue (CIE LCh hue within 45° of red)."""
    _light, chroma, hue = _lch(colour.lower())
    return chroma >= 35 and (hue <= 45 or hue >= 345)


def collisions(colours: list[str]) -> list[tuple[str, str, float, str]]:
    """(colour, colour, ΔE, vision) of every pair closer than MIN_DELTA_E, closest first."""
    out = []
    for a, b in itertools.combinations(colours, 2):
        delta, vision = difference(a, b)
        if delta < MIN_DELTA_E:
            out.append((a, b, delta, vision))
    return sorted(out, key=lambda t: t[2])


def check_palette(colours: list[str], source: str) -> None:
    """Refuse a brand's own palette whose first CHECKED colours collide or are red-like."""
    shown = colours[:CHECKED]
    red = [c for c in shown if red_like(c)]
    if red:
        raise InputError(
            f"{source}: palette colour {red[0]} is red-like, and red marks a clearly worse "
            "figure in the report — choose another hue (orange, purple, blue, green)"
        )
    close = collisions(shown)
    if close:
        a, b, delta, vision = close[0]
        raise InputError(
            f"{source}: palette colours {a} and {b} look alike under {vision} (colour "
            f"difference {delta:.1f}, at least {MIN_DELTA_E:.0f} needed) — change one of them"
        )


def segment_palette(
    primary: str, accent: str, n: int, explicit: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """Distinct colours for `n` segments: the brand's explicit list (checked when the brand
    is loaded), else the primary colour, the accent unless it is red-like or looks like the
    primary to some reader, then pool colours that every reader tells from those taken."""
    if explicit:
        base = list(explicit)
        while len(base) < n:
            base += [_shade(c, 0.75) for c in explicit]
        return base[:n]
    out = [primary]
    if not red_like(accent) and difference(primary, accent)[0] >= MIN_DELTA_E:
        out.append(accent)
    free = [c for c in POOL if c not in out]
    while len(out) < min(n, FILLED) and free:
        margins = [min(difference(c, o)[0] for o in out) for c in free]
        new_hue = [min(_hue_gap(c, o) for o in out) >= HUE_GAP for c in free]
        # the first pool colour of a new hue well apart from all taken, else one just apart,
        # else the farthest
        tiers = [(WELL_APART, True), (MIN_DELTA_E, True), (MIN_DELTA_E, False)]
        pick = next(
            (
                c
                for floor, hue in tiers
                for c, m, h in zip(free, margins, new_hue, strict=True)
                if m >= floor and (h or not hue)
            ),
            free[int(np.argmax(margins))],
        )
        out.append(pick)
        free.remove(pick)
    while len(out) < n:  # more segments than the check covers: darker repeats
        out.append(_shade(out[len(out) % FILLED], 0.7))
    return out[:n]
