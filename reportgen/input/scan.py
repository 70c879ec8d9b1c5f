"""The first pass over a customer table: check every row, count, and draw the fit sample.

`scan` reads the table chunk by chunk (see `Source`) and keeps only what is bounded: row
counts, missing-value counts, the latest enrollment date, the customer ids (to refuse
duplicates across chunks) and a reproducible random sample of at most `sample_rows` rows.

The sample is a *bottom-k* sample: every row gets a pseudo-random key from its customer id
and the seed, and the rows with the smallest keys are kept; the sample is then put in
customer-id order. So the sample depends on the customers, the seed and the size only — not
on the chunk size and not on the order of the rows: the same customers in another order give
the same sample, in the same order, hence the same model. When the table is no larger than
the sample it is the whole table (results on small files are those of fitting on
everything). A table without ids falls back to row positions and file order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import schema
from ..config import Config
from ..errors import InputError
from .load import (
    CHUNK_ROWS,
    Loaded,
    LoadInfo,
    Table,
    _Issues,
    check_filled,
    check_unique_ids,
    no_data_rows,
    open_source,
)

Chunk = tuple[pd.DataFrame, np.ndarray]  # canonical rows, their file row numbers


class Source:
    """Where the customer rows come from: an in-memory frame or a file read in chunks.

    An engine only decides where chunks come from; everything downstream is the same.
    """

    def __init__(self, loaded: Loaded | None = None, table: Table | None = None, config=None):
        self.loaded, self.table, self.config = loaded, table, config
        #: a table that fits in one chunk, kept by `scan` (already read and checked) for
        #: the scoring pass: memory stays bounded by one chunk, the file is read once
        self.single: Chunk | None = None

    @classmethod
    def from_file(cls, path, config: Config) -> Source:
        """A customer file, or a database when `path` is a URL (or an SQLite file with
        `[input] table` or `query`)."""
        return cls(table=open_source(path, config), config=config)

    @classmethod
    def from_loaded(cls, loaded: Loaded, config: Config | None = None) -> Source:
        return cls(loaded=loaded, config=config)

    @property
    def path(self) -> str:
        return self.loaded.info.path if self.loaded else self.table.file

    def chunks(self, chunk_rows: int | None = CHUNK_ROWS) -> Iterator[Chunk]:
        if self.loaded is not None:
            frame = self.loaded.frame
            step = chunk_rows or max(len(frame), 1)
            for start in range(0, max(len(frame), 1), step):
                part = frame.iloc[start : start + step]
                yield part, np.arange(start, start + len(part)) + 2
            return
        if self.single is not None and (chunk_rows is None or len(self.single[0]) <= chunk_rows):
            yield self.single
            return
        yield from self.table.chunks(self.config, _Issues(strict=True), chunk_rows)


@dataclass
class Scan:
    """What the first pass learned about the whole table."""

    info: LoadInfo
    rows: int
    #: the fit sample: canonical rows (fresh positional index), in customer-id order
    sample: pd.DataFrame
    latest_enrolled: pd.Timestamp | None


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def row_keys(positions: np.ndarray, seed: int) -> np.ndarray:
    """A pseudo-random uint64 per table position (splitmix64 of position and seed)."""
    with np.errstate(over="ignore"):
        z = positions.astype(np.uint64) + np.uint64(seed % 2**63) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def id_keys(ids: pd.Series, seed: int) -> np.ndarray:
    """A pseudo-random uint64 per customer id (its text hashed, then splitmix64 with the
    seed): the same customer gets the same key wherever the row is in the table."""
    hashed = pd.util.hash_array(ids.astype(str).to_numpy(dtype=object), categorize=False)
    return row_keys(hashed, seed)


class BottomK:
    """Keeps the `size` rows with the smallest keys seen so far (bounded memory)."""

    def __init__(self, size: int, seed: int):
        self.size, self.seed = size, seed
        self.frames: list[pd.DataFrame] = []
        self.keys: list[np.ndarray] = []
        self.positions: list[np.ndarray] = []
        self.buffered = 0

    def add(
        self, frame: pd.DataFrame, first_position: int, positions: np.ndarray | None = None
    ) -> None:
        """`frame`'s rows are at table positions `first_position`, `first_position` + 1, …
        (or at `positions`, when they are not consecutive)."""
        if positions is None:
            positions = np.arange(first_position, first_position + len(frame))
        self.frames.append(frame)
        self.positions.append(positions)
        if schema.ID in frame:
            self.keys.append(id_keys(frame[schema.ID], self.seed))
        else:
            self.keys.append(row_keys(positions, self.seed))
        self.buffered += len(frame)
        if self.buffered > 2 * self.size:
            self._compact()

    def merge(self, other: BottomK) -> BottomK:
        """The rows with the smallest keys of both (another part of the same table, drawn
        with the same size and seed, e.g. on another Spark partition)."""
        out = BottomK(self.size, self.seed)
        out.frames, out.keys = self.frames + other.frames, self.keys + other.keys
        out.positions = self.positions + other.positions
        out.buffered = self.buffered + other.buffered
        out.compact()
        return out

    def compact(self) -> None:
        """Keep only the `size` rows with the smallest keys (nothing to do when empty)."""
        if self.frames:
            self._compact()

    def _compact(self) -> None:
        keys = np.concatenate(self.keys)
        positions = np.concatenate(self.positions)
        frame = (
            pd.concat(self.frames, ignore_index=True) if len(self.frames) > 1 else self.frames[0]
        )
        if len(keys) > self.size:
            keep = np.sort(np.argpartition(keys, self.size - 1)[: self.size])
            frame = frame.iloc[keep].reset_index(drop=True)
            keys, positions = keys[keep], positions[keep]
        self.frames, self.keys, self.positions = [frame], [keys], [positions]
        self.buffered = len(frame)

    def smallest(self, size: int) -> tuple[pd.DataFrame, np.ndarray]:
        """The `size` (at most) rows with the smallest keys, and their positions."""
        self._compact()
        frame, keys, positions = self.frames[0], self.keys[0], self.positions[0]
        if len(keys) > size:
            keep = np.sort(np.argpartition(keys, size - 1)[:size]) if size else keys[:0]
            return frame.iloc[keep].reset_index(drop=True), positions[keep]
        return frame, positions

    def result(self) -> tuple[pd.DataFrame, np.ndarray]:
        if not self.frames:
            return pd.DataFrame(), np.empty(0, dtype=np.int64)
        return _in_id_order(*self.smallest(self.size))


def _in_id_order(frame: pd.DataFrame, positions: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The sample in customer-id order (the row order of the file cannot matter), or in
    table order for a table without ids."""
    if schema.ID in frame:
        order = np.argsort(frame[schema.ID].astype(str).to_numpy(), kind="stable")
    else:
        order = np.argsort(positions, kind="stable")
    return frame.iloc[order].reset_index(drop=True), positions[order]


class StratifiedBottomK:
    """A bottom-k sample that keeps each value of one column (`[sampling] strata`) in its
    share of the table: one `BottomK` per value while the table is read, then each value
    gets its proportional part of `size` (largest remainders, ties by value), filled with
    its rows of smallest keys. A table no larger than `size` is kept whole, as unstratified.
    A missing value is a stratum of its own; a number is the same value whether its chunk
    read it as an integer or, beside a missing value, as a float. More than `MAX_STRATA`
    values is refused (when the sample is taken, so both engines end with the same line).

    Memory: while the table is read each value keeps up to `size` rows (2 × `size` between
    compactions), so at most `MAX_STRATA` × `size` rows — with the default 50,000-row sample
    and a five-value column, 250,000 rows; on Spark each partition sends as much to the
    merge."""

    MAX_STRATA = 20
    MISSING = "(missing)"

    def __init__(self, size: int, seed: int, column: str):
        self.size, self.seed, self.column = size, seed, column
        self.parts: dict[str, BottomK] = {}
        self.counts: dict[str, int] = {}
        self.absent = False  # the table has no such column
        self.too_many = False  # more than MAX_STRATA values (nothing more is kept)

    def add(self, frame: pd.DataFrame, first_position: int) -> None:
        if self.column not in frame:
            self.absent = True
            return
        if self.too_many:
            return
        values = _labels(frame[self.column], self.MISSING)
        if len(set(self.parts) | set(pd.unique(values))) > self.MAX_STRATA:
            self.too_many, self.parts = True, {}  # refused before any row is kept
            return
        positions = np.arange(first_position, first_position + len(frame))
        for value, rows in pd.Series(np.arange(len(frame))).groupby(values, sort=True):
            idx = rows.to_numpy()
            part = self.parts.setdefault(value, BottomK(self.size, self.seed))
            part.add(frame.iloc[idx].reset_index(drop=True), 0, positions[idx])
            self.counts[value] = self.counts.get(value, 0) + len(idx)

    def merge(self, other: StratifiedBottomK) -> StratifiedBottomK:
        out = StratifiedBottomK(self.size, self.seed, self.column)
        out.absent = self.absent or other.absent
        out.too_many = self.too_many or other.too_many
        for source in (self, other):
            for value, n in source.counts.items():
                out.counts[value] = out.counts.get(value, 0) + n
        if not out.too_many:
            for value in set(self.parts) | set(other.parts):
                a, b = self.parts.get(value), other.parts.get(value)
                out.parts[value] = a.merge(b) if a and b else a or b  # type: ignore[assignment]
            if len(out.parts) > out.MAX_STRATA:  # each part had few values, both together not
                out.too_many, out.parts = True, {}
        return out

    def compact(self) -> None:
        for part in self.parts.values():
            part.compact()

    def allocation(self) -> dict[str, int]:
        """Rows of the sample per value: proportional to the table, summing to `size`."""
        total = sum(self.counts.values())
        if total <= self.size:
            return dict(self.counts)
        quotas = {v: self.size * n / total for v, n in self.counts.items()}
        take = {v: int(q) for v, q in quotas.items()}
        left = self.size - sum(take.values())
        for value in sorted(quotas, key=lambda v: (-(quotas[v] - take[v]), v))[:left]:
            take[value] += 1
        return take

    def result(self) -> tuple[pd.DataFrame, np.ndarray]:
        where = f"[sampling] strata = {self.column!r}"
        if self.absent:
            raise InputError(
                f"{where}: the table has no {self.column} column — name a column it has, "
                "or remove the setting"
            )
        if self.too_many:
            raise InputError(
                f"{where}: the column has more than {self.MAX_STRATA} different values — "
                "stratify by a column with few values (e.g. Education), or remove the setting"
            )
        if not self.parts:
            return pd.DataFrame(), np.empty(0, dtype=np.int64)
        allocation = sorted(self.allocation().items())
        picked = [self.parts[v].smallest(n) for v, n in allocation if n > 0]
        frame = pd.concat([f for f, _ in picked], ignore_index=True)
        return _in_id_order(frame, np.concatenate([p for _, p in picked]))


def _labels(column: pd.Series, missing: str) -> np.ndarray:
    """Each row's stratum as text. A number is written as the loader's text would be: 1 and
    1.0 are one value (a chunk with a missing value reads an integer column as floats)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        out = np.full(len(x), missing, dtype=object)
        known = ~np.isnan(x)
        filled = np.where(known, x, 0.0)
        whole = known & (filled == np.floor(filled)) & (np.abs(filled) < 2**53)
        out[whole] = x[whole].astype(np.int64).astype(str)
        out[known & ~whole] = x[known & ~whole].astype(str)
        return out
    return column.astype("string").fillna(missing).to_numpy(dtype=object)


def new_sampler(size: int, seed: int, strata: str | None = None) -> BottomK | StratifiedBottomK:
    """The fit sample's sampler: stratified when `strata` (`[sampling] strata`) names a
    column."""
    return StratifiedBottomK(size, seed, strata) if strata else BottomK(size, seed)


def scan(
    source: Source,
    sample_rows: int,
    seed: int,
    chunk_rows: int | None = CHUNK_ROWS,
    progress=None,
) -> Scan:
    """Read every row once: check it, count it, and keep the fit sample."""
    strata = source.config.sampling.strata if source.config is not None else None
    if source.loaded is not None:  # already in memory and checked by the loader
        frame = source.loaded.frame
        sampler = new_sampler(sample_rows, seed, strata)
        sampler.add(frame, 0)
        return Scan(source.loaded.info, len(frame), sampler.result()[0], latest_enrolled(frame))
    table = source.table
    sampler = new_sampler(sample_rows, seed, strata)
    ids: list[pd.Series] = []
    rows: list[np.ndarray] = []
    missing: dict[str, int] = {}
    latest: pd.Timestamp | None = None
    count = 0
    first: Chunk | None = None
    n_chunks = 0
    for frame, numbers in source.chunks(chunk_rows):
        first, n_chunks = ((frame, numbers) if n_chunks == 0 else None), n_chunks + 1
        sampler.add(frame.reset_index(drop=True), count)
        count += len(frame)
        if schema.ID in frame:
            ids.append(frame[schema.ID])
            rows.append(numbers)
        for column, n in frame.isna().sum().items():
            missing[column] = missing.get(column, 0) + int(n)
        chunk_latest = latest_enrolled(frame)
        if chunk_latest is not None and (latest is None or chunk_latest > latest):
            latest = chunk_latest
        if progress is not None:
            progress(count)
    issues = _Issues(strict=True)
    if ids:
        all_ids = pd.concat(ids, ignore_index=True)
        if all_ids.dtype == object:  # ints in one chunk and text in another: compare as text
            all_ids = all_ids.astype(str)
        check_unique_ids(all_ids, np.concatenate(rows), table.file, issues)
    if table.headers and count == 0 and not table.missing_required:
        raise InputError(no_data_rows(table.file))
    check_filled(missing, count, table.file, issues)
    if n_chunks == 1:
        source.single = first
    return Scan(table.info(count, missing), count, sampler.result()[0], latest)


def latest_enrolled(frame: pd.DataFrame) -> pd.Timestamp | None:
    if schema.ENROLLED not in frame or frame.empty:
        return None
    value = frame[schema.ENROLLED].max()
    return None if pd.isna(value) else pd.Timestamp(value)
