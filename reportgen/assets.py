"""Where the packaged templates, styles and sample data live.

In an installed wheel they sit in `reportgen/_assets/`; in a source checkout (or an
editable install) they are the top-level `templates/`, `styles/` and `data/` folders.
"""

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """Return the folder of packaged assets called `name` ('templates', 'styles' or 'data')."""
    for candidate in (_PACKAGE / "_assets" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"packaged folder {name!r} not found next to {_PACKAGE}")


def sample_data_path() -> Path:
    """The bundled synthetic customer file used when `reportgen run` gets no --data."""
    return asset_dir("data") / "customers_sample.csv"
