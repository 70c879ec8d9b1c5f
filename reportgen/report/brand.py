"""Brands: a folder with `brand.toml`, a logo and optional CSS that restyle the report.

A brand is looked up by name among the packaged `styles/` folders, or given as a folder path
(`--brand ./styles/acme`). Its colours drive the CSS variables and the segment palette of the
charts, so a new brand needs no template edits.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..assets import asset_dir
from ..errors import InputError

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_FONT = re.compile(r"^[A-Za-z0-9 ,'\"-]+$")
_KEYS = {
    "name",
    "logo",
    "primary",
    "accent",
    "font_family",
    "heading_font_family",
    "footer",
    "palette",
}


@dataclass(frozen=True)
class Brand:
    """The look of a report: company, logo, colours, fonts and footer."""

    #: folder the brand was read from (its logo and style.css live here).
    folder: Path
    name: str
    logo: Path | None
    primary: str
    accent: str
    font_family: str = "DejaVu Sans"
    heading_font_family: str = ""
    footer: str = ""
    #: explicit segment colours; derived from primary and accent when empty.
    palette_colors: tuple[str, ...] = field(default=())

    @property
    def css_file(self) -> Path | None:
        css = self.folder / "style.css"
        return css if css.is_file() else None

    def palette(self, n: int) -> list[str]:
        """`n` distinct segment colours that go with the brand (same input, same colours)."""
        return segment_palette(self.primary, self.accent, n, self.palette_colors)

    def css_variables(self) -> str:
        """`:root { --brand-primary: ... }` for the stylesheet."""
        heading = self.heading_font_family or self.font_family
        return (
            ":root {"
            f" --brand-primary: {self.primary};"
            f" --brand-primary-ink: {ink(self.primary)};"
            f" --brand-accent: {self.accent};"
            f" --brand-primary-light: {_mix(self.primary, '#ffffff', 0.88)};"
            f" --brand-accent-light: {_mix(self.accent, '#ffffff', 0.85)};"
            f" --brand-font: {_font_stack(self.font_family)};"
            f" --brand-heading-font: {_font_stack(heading)};"
            " }"
        )


def available_brands() -> list[str]:
    """Names of the packaged brands."""
    root = asset_dir("styles")
    return sorted(p.name for p in root.iterdir() if (p / "brand.toml").is_file())


def load_brand(spec: str | Path | None) -> Brand:
    """Read a brand by packaged name ('default', 'northwind') or by folder path."""
    spec = "default" if spec in (None, "") else spec
    path = Path(spec)
    if (path / "brand.toml").is_file():
        folder = path
    else:
        folder = asset_dir("styles") / str(spec)
        if not (folder / "brand.toml").is_file() or "/" in str(spec) or str(spec) in (".", ".."):
            raise InputError(
                f"--brand {spec}: no such brand — give a folder holding brand.toml or one of: "
                f"{', '.join(available_brands())}"
            )
    return _read(folder.resolve())


def _read(folder: Path) -> Brand:
    source = folder / "brand.toml"
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc}) — fix the syntax") from None
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InputError(
            f"{source}: unknown setting '{unknown[0]}' — use only {', '.join(sorted(_KEYS))}"
        )
    for key in ("primary", "accent"):
        if not _HEX.match(str(data.get(key, ""))):
            raise InputError(f"{source}: '{key}' must be a colour like \"#1f3a5f\"")
    palette = tuple(str(c) for c in data.get("palette", []))
    bad = [c for c in palette if not _HEX.match(c)]
    if bad:
        raise InputError(f'{source}: palette colour {bad[0]!r} must look like "#1f3a5f"')
    for key in ("font_family", "heading_font_family"):
        if key in data and not _FONT.match(str(data[key])):
            raise InputError(f"{source}: '{key}' may hold only font names separated by commas")
    logo = None
    if data.get("logo"):
        logo = (folder / str(data["logo"])).resolve()
        if not logo.is_relative_to(folder) or not logo.is_file():
            raise InputError(
                f"{source}: logo {data['logo']!r} must be a file inside the brand folder"
            )
    return Brand(
        folder=folder,
        name=str(data.get("name", folder.name)),
        logo=logo,
        primary=data["primary"].lower(),
        accent=data["accent"].lower(),
        font_family=str(data.get("font_family", "DejaVu Sans")),
        heading_font_family=str(data.get("heading_font_family", "")),
        footer=str(data.get("footer", "")),
        palette_colors=palette,
    )


#: muted, well-separated colours (Tableau 10) that fill the palette after the brand colours.
_CATEGORICAL = [
    "#e15759",
    "#59a14f",
    "#b07aa1",
    "#76b7b2",
    "#4e79a7",
    "#f28e2b",
    "#edc948",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]


def segment_palette(
    primary: str, accent: str, n: int, explicit: tuple[str, ...] | list[str] = ()
) -> list[str]:
    """Distinct colours for `n` segments: the explicit list, else primary and accent followed
    by muted categorical colours that are not too close to a colour already taken."""
    if explicit:
        base = list(explicit)
        while len(base) < n:
            base += [_shade(c, 0.75) for c in explicit]
        return base[:n]
    out = [primary, accent]
    for threshold in (0.35, 0.2, 0.0):
        for colour in _CATEGORICAL:
            if len(out) >= n:
                break
            if colour not in out and min(_distance(colour, o) for o in out) > threshold:
                out.append(colour)
    while len(out) < n:  # more than 12 segments: darker repeats
        out.append(_shade(out[len(out) % 12], 0.7))
    return out[:n]


def _distance(a: str, b: str) -> float:
    """Colour difference in [0, ~1.7] (RGB weighted for the eye)."""
    (r1, g1, b1), (r2, g2, b2) = _rgb(a), _rgb(b)
    return (2 * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2 + 3 * (b1 - b2) ** 2) ** 0.5 / 3**0.5


def ink(colour: str, max_luminance: float = 0.22) -> str:
    """A darker shade of `colour` readable as text on white (light colours are darkened)."""
    out = colour
    for _ in range(12):
        if _luminance(out) <= max_luminance:
            break
        out = _shade(out, 0.85)
    return out


def _luminance(colour: str) -> float:
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _font_stack(family: str) -> str:
    names = [f.strip().strip("'\"") for f in family.split(",") if f.strip()]
    generic = (
        "serif"
        if any("serif" in n.lower() and "sans" not in n.lower() for n in names)
        else ("sans-serif")
    )
    return ", ".join(f'"{n}"' for n in names) + f", {generic}"


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def _mix(colour: str, other: str, amount: float) -> str:
    a, b = _rgb(colour), _rgb(other)
    return _hex(tuple(x + (y - x) * amount for x, y in zip(a, b, strict=True)))  # type: ignore[arg-type]


def _shade(colour: str, factor: float) -> str:
    return _hex(tuple(c * factor for c in _rgb(colour)))  # type: ignore[arg-type]
