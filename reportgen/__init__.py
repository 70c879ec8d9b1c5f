"""reportgen: interpretable customer segmentation and branded segment reports.

`reportgen.segment(data)`, `reportgen.load(folder)` and the jobs the CLI runs
(`reportgen.run`, `validate`, `assign`, `render`, `history`, `send`, `synth`) are the Python
API (api.py); they are imported on first use, so `import reportgen` (and the CLI's --help)
stays light.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reportgen")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0"


_API = ("segment", "load", "Result", "run", "validate", "assign", "render", "history", "send")
__all__ = ["__version__", *_API, "synth", "RunHistory"]


def __getattr__(name: str):
    if name in __all__ and name != "__version__":
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'reportgen' has no attribute {name!r}")
