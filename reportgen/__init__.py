"""reportgen: interpretable customer segmentation and branded segment reports.

`reportgen.segment(data)` and `reportgen.load(folder)` are the Python API (api.py); they
are imported on first use, so `import reportgen` (and the CLI's --help) stays light.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reportgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"


__all__ = ["__version__", "segment", "load", "Result"]


def __getattr__(name: str):
    if name in ("segment", "load", "Result"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")
