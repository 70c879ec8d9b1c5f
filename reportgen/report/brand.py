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
        if not css.exists() and not css.is_symlink():
            return None
        return _own_file(self.folder, "style.css", self.folder / "brand.toml", MAX_CSS_BYTES)

    def stylesheet(self) -> tuple[str, list[str]]:
        """The brand's style.css made safe to inline: its own files referenced with `url()`
        become data URIs; any other reference (http:, file:, paths out of the folder,
        `@import`) is removed. Returns the CSS and what was removed, one line each."""
        css = self.css_file
        if css is None:
            return "", []
        try:
            text = css.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{css}: not UTF-8 text — save the brand's CSS as UTF-8") from None
        return _inline_urls(text, self.folder, css)

    def palette(self, n: int) -> list[str]:
        """`n` distinct segment colours that go with the brand (same input, same colours)."""
        from .colours import segment_palette  # brand.py is imported before colours.py

        return segment_palette(self.primary, self.accent, n, self.palette_colors)

    @property
    def primary_light(self) -> str:
        """The primary colour mixed with white: backgrounds of highlighted text."""
        return _mix(self.primary, "#ffffff", 0.88)

    @property
    def font_stack(self) -> str:
        return _font_stack(self.font_family)

    def css_variables(self) -> str:
        """`:root { --brand-primary: ... }` for the stylesheet."""
        heading = self.heading_font_family or self.font_family
        return (
            ":root {"
            f" --brand-primary: {self.primary};"
            f" --brand-primary-ink: {ink(self.primary)};"
            f" --brand-accent: {self.accent};"
            f" --brand-primary-light: {self.primary_light};"
            f" --brand-accent-light: {_mix(self.accent, '#ffffff', 0.85)};"
            f" --brand-font: {self.font_stack};"
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
    if palette:  # every reader must tell the segments apart (colours.py)
        from .colours import check_palette

        check_palette(list(palette), source)
    for key in ("font_family", "heading_font_family"):
        if key in data and not _FONT.match(str(data[key])):
            raise InputError(f"{source}: '{key}' may hold only font names separated by commas")
    logo = None
    if data.get("logo"):
        logo = _own_file(folder, str(data["logo"]), source, MAX_ASSET_BYTES, "logo")
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


#: the largest style.css and the largest file it or brand.toml may reference (logo, fonts)
MAX_CSS_BYTES = 1_000_000
MAX_ASSET_BYTES = 5_000_000

_MIME = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}


def data_uri(path: Path) -> str:
    """The file as a data: URI (the report embeds its logo, charts and brand assets so it
    fetches nothing)."""
    import base64

    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _own_file(folder: Path, name: str, source: Path, limit: int, what: str = "") -> Path:
    """`name` inside the brand folder as a plain file (no symlink, no way out), at most
    `limit` bytes; anything else is one line naming `source`."""
    what = what or name
    path = folder / name
    resolved = path.resolve()
    if (
        Path(name).is_absolute()
        or not resolved.is_relative_to(folder)
        or any(p.is_symlink() for p in [path, *path.parents] if p.is_relative_to(folder))
        or not resolved.is_file()
    ):
        raise InputError(
            f"{source}: {what} {name!r} must be a file inside the brand folder (no links "
            "to files elsewhere)"
        )
    if resolved.stat().st_size > limit:
        raise InputError(f"{source}: {what} {name!r} is larger than {limit:,} bytes")
    return resolved


def _inline_urls(text: str, folder: Path, css: Path) -> tuple[str, list[str]]:
    import tinycss2
    from tinycss2.ast import FunctionBlock, IdentToken, StringToken, URLToken
    from tinycss2.serializer import serialize_string_value, serialize_url

    removed: list[str] = []

    def resolve(url: str) -> str | None:
        """A data URI for `url`, or None when it must go."""
        url = url.strip()
        if url.lower().startswith("data:"):
            return url
        if ":" in url.split("/", 1)[0] or url.startswith(("/", "\\")) or "?" in url:
            removed.append(url)
            return None
        name = url.split("#", 1)[0]
        try:
            if Path(name).suffix.lower() not in _MIME:  # only images and fonts
                raise InputError(f"{name}: not an image or font")
            path = _own_file(folder, name, css, MAX_ASSET_BYTES)
        except InputError:
            removed.append(url)
            return None
        return data_uri(path)

    def walk(tokens: list) -> list:
        out: list = []
        skipping: list | None = None
        for token in tokens:
            if skipping is not None:  # an @import rule, up to its semicolon
                if token.type == "literal" and token.value == ";":
                    removed.append("@import " + tinycss2.serialize(skipping).strip())
                    skipping = None
                else:
                    skipping.append(token)
                continue
            if token.type == "at-keyword" and token.lower_value == "import":
                skipping = []
                continue
            if token.type == "url" or (token.type == "function" and token.lower_name == "url"):
                if token.type == "url":
                    value = token.value
                else:
                    strings = [t for t in token.arguments if t.type == "string"]
                    value = strings[0].value if strings else ""
                uri = resolve(value)
                if uri is None:
                    out.append(IdentToken(token.source_line, token.source_column, "none"))
                else:
                    quoted = f"url({serialize_url(uri)})"
                    out.append(URLToken(token.source_line, token.source_column, uri, quoted))
                continue
            if token.type == "function" and token.lower_name.endswith("image-set"):
                args = []
                for t in token.arguments:
                    if t.type == "string":
                        uri = resolve(t.value)
                        value = uri or ""
                        quoted = f'"{serialize_string_value(value)}"'
                        t = StringToken(t.source_line, t.source_column, value, quoted)
                    args.append(t)
                token = FunctionBlock(
                    token.source_line, token.source_column, token.name, walk(args)
                )
            elif hasattr(token, "content") and token.content is not None:
                token.content = walk(token.content)
            elif token.type == "function":
                token.arguments = walk(token.arguments)
            out.append(token)
        if skipping is not None:  # an @import at the very end, without its semicolon
            removed.append("@import " + tinycss2.serialize(skipping).strip())
        return out

    tokens = tinycss2.parse_component_value_list(text, skip_comments=True)
    return tinycss2.serialize(walk(tokens)), removed


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
