"""Entity extraction over a local folder of Parquet shards, one row group at a time, without the datasets cache.

`datasets.load_dataset` converts every shard to Arrow in its cache and `Dataset.map` writes a second Arrow copy with
every column; for a dataset with signals (MIMIC-IV-ECG) that is ~240 kB of cache per record and memory that grows
with the split. Here the shards are read with pyarrow a row group at a time: only the `report` column is decoded to
Python, the other columns go from the input batch to the output shard as Arrow, so memory is bounded by one row
group and nothing is written outside the output folder. The rows, their order, the output shards' cut and the
card are those of the datasets path (`annotate.add_entities` falls back to it for any other input).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from .lexicon import LexiconExtractor
from .schema import entities_to_dicts

# One batch of reports -> (entities as dicts, extraction failed) per report, in order.
Annotator = Callable[[Sequence[Optional[str]]], "tuple[list[list[dict[str, str]]], list[bool]]"]


@dataclass(frozen=True)
class RowGroup:
    """Rows [first, first + rows) of a split, stored as row group `index` of `file`."""

    file: Path
    index: int
    first: int
    rows: int


@dataclass(frozen=True)
class ParquetSplit:
    """The Parquet shards of one split, in the order `datasets.load_dataset` reads them."""

    name: str
    files: tuple[Path, ...]

    def row_groups(self) -> list[RowGroup]:
        """Every row group of the split with its first row (read from the files' footers, no data)."""
        groups, first = [], 0
        for file in self.files:
            metadata = pq.ParquetFile(file).metadata
            for index in range(metadata.num_row_groups):
                rows = metadata.row_group(index).num_rows
                groups.append(RowGroup(file, index, first, rows))
                first += rows
        return groups


def local_parquet_splits(dataset_dir: Path) -> Optional[tuple[Any, list[ParquetSplit]]]:
    """(features, splits) of a local dataset folder whose data files are all Parquet, as `load_dataset` resolves
    them (the card's `configs:` globs, or datasets' folder conventions); None for anything else (a Hub id, CSV or
    JSON files, a folder datasets cannot resolve), which the caller reads through `datasets` instead."""
    if not dataset_dir.is_dir():
        return None
    from datasets import Features, load_dataset_builder

    try:
        builder = load_dataset_builder(str(dataset_dir))
    except Exception:  # the datasets path raises the clear error for a folder it cannot read
        return None
    data_files = builder.config.data_files or {}
    # str: a folder without a card gives datasets' NamedSplit keys
    files = {str(name): tuple(Path(str(file)) for file in listed) for name, listed in data_files.items()}
    if builder.name != "parquet" or not files or not all(
        file.suffix == ".parquet" and file.is_file() for listed in files.values() for file in listed
    ):
        return None
    features = builder.info.features
    if features is None:
        first = next(file for listed in files.values() for file in listed)
        features = Features.from_arrow_schema(pq.read_schema(first))
    return features, [ParquetSplit(name, listed) for name, listed in files.items()]


def read_rows(
    groups: Sequence[RowGroup], start: int, stop: int, columns: Sequence[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Rows [start, stop) of a split as record batches of at most `batch_rows` rows, reading only `columns` and only
    the row groups that overlap the range."""
    for group in groups:
        if group.first + group.rows <= start or group.first >= stop:
            continue
        position = group.first
        parquet = pq.ParquetFile(group.file)
        for batch in parquet.iter_batches(batch_size=batch_rows, row_groups=[group.index], columns=list(columns)):
            low, high = max(start - position, 0), min(stop - position, batch.num_rows)
            if high > low:
                yield batch.slice(low, high - low)
            position += batch.num_rows


def annotated_batch(batch: pa.RecordBatch, annotate: Annotator, report_column: str, types: Sequence[pa.DataType]
                    ) -> tuple[pa.Table, list[Optional[str]], list[list[dict[str, str]]]]:
    """`batch` with the entities and failed-mark columns appended (typed `types`), its reports and their entities."""
    reports = batch.column(report_column).to_pylist()
    entities, failed = annotate(reports)
    table = pa.Table.from_batches([batch])
    table = table.append_column("entities", pa.array(entities, type=types[0]))
    return table.append_column("entities_failed", pa.array(failed, type=types[1])), reports, entities


def write_shard(path: Path, features: Any, tables: Iterator[pa.Table], row_group_size: int) -> tuple[int, int]:
    """Write `tables` to the Parquet shard `path` as the builders write theirs (datasets' writer with the signal
    column options), through a temporary name so that the folder never shows a partial shard.

    Returns:
        (rows, bytes of the rows in Arrow), as datasets counts them.
    """
    from ..dataset_builders.shards import _SignalParquetWriter

    temporary = path.with_name(f".{path.name}.partial")
    writer = _SignalParquetWriter(features=features, path=str(temporary), writer_batch_size=row_group_size)
    try:
        for table in tables:
            writer.write_table(table)
        rows, num_bytes = writer.finalize()
    finally:
        writer.close()
    os.replace(temporary, path)
    return rows, num_bytes


def output_cuts(start: int, stop: int, shard_size: int) -> list[tuple[int, int]]:
    """Row ranges of the output shards of rows [start, stop): ceil(n / shard_size) near-equal contiguous shards, as
    `datasets.Dataset.shard(contiguous=True)` cuts the datasets path's output."""
    from ..dataset_builders.tasks import part_range

    count = stop - start
    shards = max(1, math.ceil(count / shard_size))
    return [tuple(start + position for position in part_range(count, shards, index)) for index in range(shards)]


def _extract_distinct(reports: Sequence[str], extractor: LexiconExtractor) -> list[list[dict[str, str]]]:
    return [entities_to_dicts(extractor.extract(report)) for report in reports]


class LexiconAnnotator:
    """The lexicon over batches of reports: each report is extracted once while it stays among the `cache_size` most
    recently extracted (MIMIC's reports repeat heavily; the cache bounds memory, it does not grow with the dataset),
    the others in `num_proc` processes when more than one. Use as a context manager (the processes end on exit)."""

    def __init__(self, extractor: LexiconExtractor, num_proc: int = 1, cache_size: int = 20_000):
        self.extractor = extractor
        self.num_proc = num_proc
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self._pool: Any = None

    def __enter__(self) -> LexiconAnnotator:
        if self.num_proc > 1:
            # fork, as datasets' `map(num_proc=...)`: a spawned worker would import the calling script's modules
            # again (~10 s with transformers); the pool starts before any Parquet data is read, and the workers only
            # run the lexicon on strings. The extractor reaches each worker once, through the initializer, not with
            # every batch (it pickles to ~370 kB).
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(self.num_proc, initializer=_set_worker_extractor, initargs=(self.extractor,))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __call__(self, reports: Sequence[Optional[str]]) -> tuple[list[list[dict[str, str]]], list[bool]]:
        missing = [report for report in dict.fromkeys(reports) if report and report not in self._cache]
        for report, found in zip(missing, self._extract(missing)):
            self._cache[report] = found
        table = {report: self._cache[report] for report in dict.fromkeys(reports) if report}
        for report in table:
            self._cache.move_to_end(report)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return [table[report] if report else [] for report in reports], [False] * len(reports)  # never fails

    def _extract(self, reports: list[str]) -> list[list[dict[str, str]]]:
        if self._pool is None or len(reports) < 2:
            return _extract_distinct(reports, self.extractor)
        size = math.ceil(len(reports) / self.num_proc)
        chunks = [reports[start : start + size] for start in range(0, len(reports), size)]
        return [entities for chunk in self._pool.map(_worker_extract, chunks) for entities in chunk]


# The lexicon of one pool worker process, set once by the pool's initializer (per process, never shared).
_WORKER: dict[str, LexiconExtractor] = {}


def _set_worker_extractor(extractor: LexiconExtractor) -> None:
    _WORKER["extractor"] = extractor


def _worker_extract(reports: Sequence[str]) -> list[list[dict[str, str]]]:
    return _extract_distinct(reports, _WORKER["extractor"])


def distinct_reports(splits: Sequence[ParquetSplit], ranges: dict[str, tuple[int, int]], report_column: str,
                     batch_rows: int) -> list[str]:
    """The distinct non-empty reports of every split's range, in first-seen order, reading only `report_column`."""
    seen: dict[str, None] = {}
    for split in splits:
        start, stop = ranges[split.name]
        for batch in read_rows(split.row_groups(), start, stop, [report_column], batch_rows):
            seen.update((report, None) for report in batch.column(0).to_pylist() if report and report.strip())
    return list(seen)


__all__ = [
    "LexiconAnnotator", "ParquetSplit", "RowGroup", "annotated_batch", "distinct_reports", "local_parquet_splits",
    "output_cuts", "read_rows", "write_shard",
]
