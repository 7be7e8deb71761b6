"""Writing rows into Parquet shards that `datasets.load_dataset` reads through the card's `configs:` globs."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Features
from datasets.arrow_writer import ParquetWriter, get_parquet_column_options

from .card import shard_file_name

# Leaf path of the signal values in Parquet (Array2D is stored as a list of lists).
SIGNAL_LEAF = "ecg.list.element.list.element"
# zstd level of int16 signals: level 9 takes 51 % of the float32 bytes on PTB-XL records 1-100 at 500 Hz where
# the default level 3 takes 59 % and brotli 52 %.
SIGNAL_ZSTD_LEVEL = 9


def signal_column_options(features: Features, schema: pa.Schema) -> dict[str, Any]:
    """`pq.ParquetWriter` options: datasets' defaults, with integer signals delta-encoded and zstd-compressed.

    ECG samples change little from one to the next, so delta encoding of int16 values (then zstd) takes about half
    the bytes of datasets' dictionary encoding of float32 mV; float32 and float16 values cannot be delta-encoded and
    stay as datasets writes them.
    """
    options = get_parquet_column_options(features, schema)
    ecg = features.get("ecg")
    if getattr(ecg, "dtype", None) == "int16" and SIGNAL_LEAF in options["use_dictionary"]:
        options["use_dictionary"] = [leaf for leaf in options["use_dictionary"] if leaf != SIGNAL_LEAF]
        options["column_encoding"] = {**options["column_encoding"], SIGNAL_LEAF: "DELTA_BINARY_PACKED"}
        options["compression"] = {**options["compression"], SIGNAL_LEAF: "zstd"}
        options["compression_level"] = {SIGNAL_LEAF: SIGNAL_ZSTD_LEVEL}
    return options


class _SignalParquetWriter(ParquetWriter):
    """datasets' ParquetWriter (content-defined chunking, page index) with `signal_column_options`."""

    def _build_writer(self, inferred_schema: pa.Schema) -> None:
        self._schema, self._features = self._build_schema(inferred_schema)
        self.pa_writer = pq.ParquetWriter(
            self.stream,
            self._schema,
            use_content_defined_chunking=self.use_content_defined_chunking,
            write_page_index=self.write_page_index,
            **signal_column_options(self._features, self._schema),
        )
        if self.use_content_defined_chunking is not False:
            self.pa_writer.add_key_value_metadata(
                {"content_defined_chunking": json.dumps(self.use_content_defined_chunking)}
            )


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """A finished shard: path relative to the dataset folder, rows, and size of its rows in Arrow (bytes)."""

    file: str
    rows: int
    num_bytes: int


class ShardWriter:
    """Writes the rows of one split into Parquet shards `data/{split}-{index:05d}.parquet` of `shard_size` rows.

    Rows are buffered `row_group_size` at a time (bounded memory) and appended to a temporary file that is
    renamed to its final name when the shard is complete, so a folder never shows a partial shard.

    Usage::

        writer = ShardWriter(folder, "train", features, shard_size=1000)
        for row in rows:
            finished = writer.add(row)      # a ShardInfo when this row completed a shard
        finished = writer.finish()          # the last, partial shard (None if empty)
    """

    def __init__(
        self,
        folder: str | Path,
        split: str,
        features: Features,
        shard_size: int = 1000,
        row_group_size: int = 100,
        first_index: int = 0,
    ):
        if shard_size < 1 or row_group_size < 1:
            raise ValueError(f"shard_size and row_group_size must be >= 1, got {shard_size} and {row_group_size}")
        self.folder = Path(folder)
        self.split = split
        self.features = features
        self.shard_size = shard_size
        self.row_group_size = min(row_group_size, shard_size)
        self.next_index = first_index
        self._buffer: dict[str, list[Any]] = {name: [] for name in features}
        self._buffered = 0
        self._rows_in_shard = 0
        self._writer: _SignalParquetWriter | None = None

    def _temporary_path(self) -> Path:
        final = self.folder / shard_file_name(self.split, self.next_index)
        return final.with_name(f".{final.name}.partial")

    def add(self, row: Mapping[str, Any]) -> ShardInfo | None:
        """Append one row (a value for every feature); returns the shard it completed, if any."""
        missing = set(self.features) - set(row)
        if missing:
            raise KeyError(f"row {row.get('id')!r} lacks the columns {sorted(missing)}")
        for name in self.features:
            self._buffer[name].append(row[name])
        self._buffered += 1
        self._rows_in_shard += 1
        if self._buffered >= self.row_group_size:
            self._flush()
        if self._rows_in_shard >= self.shard_size:
            return self._close_shard()
        return None

    def finish(self) -> ShardInfo | None:
        """Write the last, partial shard; None if it has no rows."""
        if self._rows_in_shard == 0:
            return None
        return self._close_shard()

    def abort(self) -> None:
        """Drop the shard in progress, written or buffered (its rows are written again by the next run)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._temporary_path().unlink(missing_ok=True)
        self._buffer = {name: [] for name in self.features}
        self._buffered = 0
        self._rows_in_shard = 0

    def _flush(self) -> None:
        if not self._buffered:
            return
        if self._writer is None:
            path = self._temporary_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = _SignalParquetWriter(
                features=self.features, path=str(path), writer_batch_size=self.row_group_size
            )
        self._writer.write_batch(self._buffer)
        self._buffer = {name: [] for name in self.features}
        self._buffered = 0

    def _close_shard(self) -> ShardInfo:
        self._flush()
        assert self._writer is not None
        _, num_bytes = self._writer.finalize()
        self._writer.close()
        self._writer = None
        name = shard_file_name(self.split, self.next_index)
        os.replace(self._temporary_path(), self.folder / name)
        info = ShardInfo(file=name, rows=self._rows_in_shard, num_bytes=num_bytes)
        self.next_index += 1
        self._rows_in_shard = 0
        return info
