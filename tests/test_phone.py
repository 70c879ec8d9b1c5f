"""report.html and the e-mail's HTML part on a 390 px phone, in headless Chromium.

The page is loaded into a 390 px wide iframe (headless Chromium will not make its own window
narrower than 500 px); a script then lists every element that reaches past the right edge
without sitting in a container that scrolls sideways (wide tables scroll inside themselves,
on purpose). `.ci/run` installs Chromium; without it these tests skip locally and fail in CI.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import report_runs

WIDTH = 390

_HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" style="width:{width}px;height:2400px;border:0"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var doc = this.contentDocument, root = doc.documentElement, win = this.contentWindow;
  function scrolls(e) {{
    for (var p = e.parentElement; p; p = p.parentElement) {{
      var o = win.getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') return true;
    }}
    return false;
  }}
  var wide = [];
  doc.querySelectorAll('body *').forEach(function (e) {{
    var r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > root.clientWidth + 1 && !scrolls(e))
      wide.push(e.tagName.toLowerCase() + '.' + e.className + ' ' + Math.round(r.right));
  }});
  // at a glance as cards: a row whose action is drawn, full width, above the segment's name
  var rows = doc.querySelectorAll('table.glance tbody tr'), cards = 0;
  rows.forEach(function (tr) {{
    var a = tr.querySelector('.phone-action'), s = tr.querySelector('td.seg');
    if (!a || !s) return;
    var ra = a.getBoundingClientRect(), rs = s.getBoundingClientRect();
    var full = ra.width > 0.8 * tr.getBoundingClientRect().width;
    if (ra.height > 0 && ra.bottom <= rs.top + 1 && full) cards += 1;
  }});
  // the smallest scale a chart is drawn at (its width on screen / its own width)
  var scale = 1;
  doc.querySelectorAll('figure img').forEach(function (img) {{
    var shown = img.getBoundingClientRect().width;
    if (img.naturalWidth > 0) scale = Math.min(scale, shown / img.naturalWidth);
  }});
  document.body.setAttribute('data-result',
    root.scrollWidth + '|' + root.clientWidth + '|' + wide.slice(0, 8).join(';') + '|'
    + cards + '/' + rows.length + '|' + scale.toFixed(3));
}});
</script></body></html>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("chromium not installed")
    return found


def _on_a_phone(page: Path, tmp_path: Path) -> tuple[int, int, list[str], str, float]:
    """(scroll width, visible width, elements past the right edge, "cards/rows" of the
    at-a-glance table drawn as cards with their action on top, the smallest scale a chart is
    shown at) of `page` at 390 px."""
    host = tmp_path / f"host-{page.stem}.html"
    host.write_text(_HOST.format(src=page.resolve().as_uri(), width=WIDTH), encoding="utf-8")
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu"]
    args += ["--allow-file-access-from-files", "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [*args, "--window-size=800,900", "--dump-dom", host.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'data-result="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    scroll, client, wide, cards, scale = html.unescape(found.group(1)).split("|")
    shot = tmp_path / f"{page.stem}-{WIDTH}.png"
    subprocess.run(
        [*args, f"--window-size={WIDTH},2400", f"--screenshot={shot}", page.resolve().as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000  # a page was drawn
    return int(scroll), int(client), [w for w in wide.split(";") if w], cards, float(scale)


def test_the_report_fits_a_phone(tmp_path):
    run = report_runs.rendered("real")
    scroll, client, wide, cards, scale = _on_a_phone(run.folder / "report.html", tmp_path)
    assert client <= WIDTH and scroll <= client, (scroll, client)
    assert wide == []
    segments = len(run.analysis.summary.segments)
    assert cards == f"{segments}/{segments}", "at a glance: not one card per segment, action first"
    # charts keep their drawn size (smallest text 8.5 pt = 11 px), scrolling sideways if wide
    assert scale > 0.99, f"a chart is shrunk to {scale:.0%} of its size: its text is unreadable"


def test_the_email_fits_a_phone(tmp_path):
    from reportgen.ops.deliver import build_message

    run = report_runs.rendered("real")
    msg = build_message(run.folder, ["anna@example.com"], sender="reports@example.com")
    page = tmp_path / "email.html"
    page.write_text(msg.get_body(("html",)).get_content(), encoding="utf-8")
    scroll, client, wide, *_ = _on_a_phone(page, tmp_path)
    assert client <= WIDTH and scroll <= client, (scroll, client)
    assert wide == []
