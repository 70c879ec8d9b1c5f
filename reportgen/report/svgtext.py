"""Faster SVG text in WeasyPrint: shape a simple <text> node as one string, not letter by letter.

WeasyPrint 70 lays out and draws SVG text one character at a time, so that per-character
`x`/`y`/`dx`/`dy`/`rotate` lists can be honoured. Our matplotlib charts never use those: each
label is one <text> with a single position. Drawing their ~9,000 characters letter by letter
was the largest part of writing the PDF (0.6 s of 1.4 s on the real file).

`whole_string_text()` makes WeasyPrint's own text routine see such a node's text as one
"letter": it then shapes the string once, with Pango's kerning, and draws it once. Nodes with
any per-character positioning or spacing attribute go through WeasyPrint unchanged. This is
the approach of the upstream proposal Kozea/WeasyPrint#2754 (not in a release yet). It is
applied only to the WeasyPrint versions it was checked against (`CHECKED_MAJOR`); others run
as they are, correct but slower. The tests compare pages drawn with and without it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import weasyprint
import weasyprint.svg as _svg

CHECKED_MAJOR = {"70"}
_text_module = sys.modules["weasyprint.svg.text"]
_original = _text_module.text
#: attributes that position or space single characters: such nodes keep the letter-by-letter path
_PER_CHARACTER = ("dx", "dy", "rotate", "textLength", "lengthAdjust", "letter-spacing")


class _OnePiece(str):
    """A string that iterates as a single item."""

    def __iter__(self) -> Iterator[str]:
        yield str(self)


class _WholeStringNode(_svg.Node):
    @property
    def text(self):
        text = self._etree_node.text
        return None if text is None else _OnePiece(text)


def _simple(node) -> bool:
    if not node.text or any(node.get(name) is not None for name in _PER_CHARACTER):
        return False
    return all(
        len(_text_module.normalize(node.get(axis, "0")).strip().split()) <= 1 for axis in "xy"
    )


def _text(svg, node, font_size):
    if type(node) is not _svg.Node or not _simple(node):
        return _original(svg, node, font_size)
    node.__class__ = _WholeStringNode
    try:
        return _original(svg, node, font_size)
    finally:
        node.__class__ = _svg.Node


def applies() -> bool:
    return weasyprint.__version__.split(".")[0] in CHECKED_MAJOR


@contextmanager
def whole_string_text(enabled: bool = True) -> Iterator[None]:
    """Within the block, simple SVG text nodes are drawn as whole strings."""
    if not (enabled and applies()):
        yield
        return
    # WeasyPrint dispatches on TAGS and compares against the module-level name `text`.
    saved = _svg.TAGS["text"], _svg.text
    _svg.TAGS["text"] = _svg.text = _text
    try:
        yield
    finally:
        _svg.TAGS["text"], _svg.text = saved
