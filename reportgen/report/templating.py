"""The Jinja2 environment: user templates first, packaged ones after, autoescaping always on.

Every template renders in Jinja2's `SandboxedEnvironment`: a template can read the values it
is given, loop, format and include other templates, but cannot reach Python internals
(`__class__`, `__globals__`, `mro`, ...), call unsafe methods or import anything, so a
`--templates` folder from someone else cannot run code on the machine. A template that tries
is stopped with one line (`SecurityError`, exit 2).

A `--templates DIR` is searched before the packaged `templates/`; the packaged ones are also
reachable as `default:<name>`, so an override can `{% extends "default:report.html" %}` and
replace one block instead of copying the whole file. Persona pages are looked up most
specific first: `persona-<slug>.html`, then `persona.html`.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from .. import wording
from ..assets import asset_dir
from ..errors import InputError


def template_dirs(user_dir: str | Path | None) -> list[Path]:
    """The folders searched for templates, in order."""
    dirs = []
    if user_dir:
        path = Path(user_dir)
        if not path.is_dir():
            raise InputError(
                f"--templates {user_dir}: not a folder — give a folder of Jinja templates "
                '(e.g. one report.html that extends "default:report.html")'
            )
        dirs.append(path)
    dirs.append(asset_dir("templates"))
    return dirs


def environment(user_dir: str | Path | None = None) -> Environment:
    """A Jinja environment with autoescaping on for every template (also .css/.txt)."""
    dirs = template_dirs(user_dir)
    default = FileSystemLoader(str(dirs[-1]))
    loader = ChoiceLoader(
        [
            FileSystemLoader([str(d) for d in dirs]),
            PrefixLoader({"default": default}, delimiter=":"),
        ]
    )
    env = SandboxedEnvironment(
        loader=loader,
        autoescape=select_autoescape(default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=wording.number,
        compact=wording.compact,
        percent=wording.percent,
        signed=wording.signed,
        label=wording.label,
        axis_label=wording.axis_label,
        feature_value=wording.feature_value,
        index_text=wording.index_text,
        ratio_width=_ratio_width,
        money=_money,
    )
    return env


@pass_context
def _money(context, value: float | None, sign: bool = False) -> str:
    """An amount with the report's currency (`[report] currency`): '1,356 EUR', '+239 EUR'."""
    text = wording.signed(value) if sign else wording.number(value)
    currency = context.get("currency") or ""
    return f"{text}\u00a0{currency}" if currency and text != "–" else text


def _ratio_width(ratio: float | None, cap: float = 2.5) -> float:
    """Width (% of the bar track) of a KPI bar whose track ends at `cap` × average."""
    if ratio is None or ratio != ratio:
        return 0.0
    return round(max(0.0, min(ratio, cap)) / cap * 100, 1)
