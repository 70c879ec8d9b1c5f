"""README tells the truth it tests: every setting documented, the real-file figures current."""

import re
from pathlib import Path

from pydantic import BaseModel

from reportgen.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _reference() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Configuration reference")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _sections(reference: str) -> dict[str, str]:
    """Split the reference table at its **[section]** rows ('' = top level)."""
    parts = re.split(r"\| \*\*\[(\w+)\]\*\* \|", reference)
    out = {"": parts[0]}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        out[name] = body
    return out


def _is_section(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_every_setting_is_documented():
    sections = _sections(_reference())
    missing = []
    for name, field in Config.model_fields.items():
        if _is_section(field.annotation):
            body = sections.get(name)
            if body is None:
                missing.append(f"[{name}]")
                continue
            for key in field.annotation.model_fields:
                if f"| `{key}` |" not in body:
                    missing.append(f"{name}.{key}")
        elif f"| `{name}` |" not in sections[""]:
            missing.append(name)
    assert not missing, f"settings missing from README's configuration reference: {missing}"


def test_documented_settings_exist():
    """The reference does not document settings that the config would refuse."""
    sections = _sections(_reference())
    stale = []
    for name, body in sections.items():
        model = Config if name == "" else Config.model_fields[name].annotation
        for key in re.findall(r"^\| `(\w+)` \|", body, flags=re.M):
            if key not in model.model_fields:
                stale.append(f"{name}.{key}" if name else key)
    assert not stale, f"README documents settings that do not exist: {stale}"


def test_readme_real_file_figures_come_from_a_real_file_run(real_analysis):
    """README's k, silhouette, stability, persona table, tests and rules are written by
    docs/readme_figures.py; rerun it with --write when a change moves them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "readme_figures", ROOT / "docs" / "readme_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.blocks(real_analysis.summary)
    found = module.readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert set(found) == set(expected)
    for name, body in expected.items():
        assert found[name] == body, (
            f"README block {name!r} is stale: run docs/readme_figures.py --write"
        )
