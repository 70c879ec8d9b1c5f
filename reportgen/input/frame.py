"""A pandas DataFrame as a customer table (the Python API's `reportgen.segment(df)`).

The frame is checked and converted by exactly the code a file goes through (column
matching, values, dates), chunk by chunk; its fingerprint hashes its contents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd


class FrameRows:
    """The rows of a DataFrame, as raw chunks with columns numbered by header position."""

    def __init__(self, frame: pd.DataFrame, name: str = "DataFrame"):
        self.frame = frame.reset_index(drop=True)
        self.headers = [str(c) for c in frame.columns]
        self.file = f"{name} ({len(frame):,} rows)"
        digest = hashlib.sha256(self.headers.__repr__().encode())
        digest.update(pd.util.hash_pandas_object(self.frame, index=False).to_numpy().tobytes())
        self.sha256 = digest.hexdigest()

    def raw_chunks(self, chunk_rows: int | None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        step = chunk_rows or max(len(self.frame), 1)
        for start in range(0, max(len(self.frame), 1), step):
            part = self.frame.iloc[start : start + step].copy()
            part.columns = range(part.shape[1])
            yield part, np.arange(start + 1, start + 1 + len(part))
