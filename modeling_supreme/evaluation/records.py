"""Where the benchmark's ECG signals come from: a dataset folder (or Hub id) built by `datasets_scripts/build_*.py`
(preferred), or a raw WFDB folder as distributed by PhysioNet. Either way a task's table rows are turned into model
inputs batch by batch; rows without a record are counted as missing, unreadable records are recorded with the
reason, and neither is silently dropped.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..batching_supreme import batched
from ..configuration_supreme import STANDARD_LEADS
from ..leads_supreme import select_lead_set
from ..reading_supreme import EcgRecord, read_ecg
from ..storage_supreme import GAIN_COLUMN, row_signals
from .benchmark_tasks import SOURCES, TaskSpec, TaskTable, load_task_table

logger = logging.getLogger(__name__)

PTBXL_RATES = (100, 500)


@dataclasses.dataclass(frozen=True)
class LoadedRecord:
    """One record of a table row, as read from its source.

    Attributes:
        record: the signal (n_leads, n_samples) with its rate and lead names.
        lead_mask: (12,) bool in standard lead order, False for leads the source marks as missing; None if unknown.
    """

    record: EcgRecord
    lead_mask: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class RejectedRecord:
    """A listed record that exists but could not be used. Attributes: key (record id) and reason (the error)."""

    key: str
    reason: str


class RecordSource(Protocol):
    """Gives the records of a dataset by their id (the key of `TaskTable.keys`)."""

    description: str

    def has_record(self, table: TaskTable, row: int) -> bool:
        """Whether the source holds the record of the table's row `row`."""

    def read(self, table: TaskTable, rows: Sequence[int]) -> list[LoadedRecord | RejectedRecord]:
        """The records of `rows` (all available), in order; unusable ones as `RejectedRecord`."""


def _read_or_reject(key: str, path: Path) -> LoadedRecord | RejectedRecord:
    try:
        return LoadedRecord(read_ecg(path))
    except (ValueError, OSError) as error:
        return RejectedRecord(key, str(error))


class PtbxlFolder:
    """Raw PTB-XL: `ptbxl_database.csv` beside `records100/` and `records500/`; rows name files in
    `filename_lr` (100 Hz) / `filename_hr` (500 Hz)."""

    def __init__(self, root: str | Path, sampling_rate: int) -> None:
        if sampling_rate not in PTBXL_RATES:
            raise ValueError(f"PTB-XL records exist at {PTBXL_RATES} Hz, not {sampling_rate}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"PTB-XL folder not found: {self.root}")
        self.column = "filename_hr" if sampling_rate == 500 else "filename_lr"
        self.description = f"PTB-XL WFDB records at {sampling_rate} Hz under {self.root}"

    def _path(self, table: TaskTable, row: int) -> Path:
        return self.root / str(table.rows[self.column].iloc[row])

    def has_record(self, table: TaskTable, row: int) -> bool:
        return self._path(table, row).with_suffix(".hea").is_file()

    def read(self, table: TaskTable, rows: Sequence[int]) -> list[LoadedRecord | RejectedRecord]:
        return [_read_or_reject(table.keys[row], self._path(table, row)) for row in rows]


class CincFolder:
    """Raw PhysioNet/CinC records (`.hea` + `.mat`, CPSC2018 or Chapman-Shaoxing-Ningbo), found by name anywhere
    under the root (the releases nest them differently)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"Record folder not found: {self.root}")
        self.paths = {header.stem: header.with_suffix("") for header in sorted(self.root.rglob("*.hea"))}
        self.description = f"WFDB records under {self.root} ({len(self.paths)} found)"

    def has_record(self, table: TaskTable, row: int) -> bool:
        return table.keys[row] in self.paths

    def read(self, table: TaskTable, rows: Sequence[int]) -> list[LoadedRecord | RejectedRecord]:
        return [_read_or_reject(table.keys[row], self.paths[table.keys[row]]) for row in rows]


class BuiltDataset:
    """A dataset built by this package's builders (folder or Hub id): `id` column = record id, `ecg` (12, T) stored
    as `storage_supreme` says, in standard lead order, `num_samples`, `sampling_rate`, `lead_mask`. Every split is
    searched (ids are unique per dataset)."""

    def __init__(self, path_or_id: str | Path) -> None:
        import datasets

        self.dataset = datasets.load_dataset(str(path_or_id))
        self.location: dict[str, tuple[str, int]] = {}
        for split, part in self.dataset.items():
            missing = {"id", "ecg", "sampling_rate"} - set(part.column_names)
            if missing:
                raise ValueError(
                    f"{path_or_id} (split {split}) lacks the columns {sorted(missing)} of a built ECG dataset"
                )
            for index, key in enumerate(part["id"]):
                self.location.setdefault(str(key), (split, index))
        self.description = f"dataset {path_or_id} ({len(self.location)} records)"
        self.name = str(path_or_id)

    def has_record(self, table: TaskTable, row: int) -> bool:
        return table.keys[row] in self.location

    def read(self, table: TaskTable, rows: Sequence[int]) -> list[LoadedRecord | RejectedRecord]:
        keys = [table.keys[row] for row in rows]
        by_split: dict[str, list[int]] = {}
        for key in keys:
            split, index = self.location[key]
            by_split.setdefault(split, []).append(index)
        loaded: dict[str, LoadedRecord] = {}
        for split, indices in by_split.items():
            part = self.dataset[split].with_format("numpy").select(indices)
            columns = part[:]
            masks = columns.get("lead_mask")
            # Decoded to mV (NaN kept) and cropped to each record's true length: the feature extractor then treats
            # the row as it treats the raw record.
            signals = row_signals(columns["ecg"], columns.get("num_samples"), columns.get(GAIN_COLUMN))
            for position, key in enumerate(part["id"]):
                record = EcgRecord(
                    signal=signals[position],
                    sampling_rate=float(columns["sampling_rate"][position]),
                    lead_names=list(STANDARD_LEADS),
                    source=f"{self.name} [{split}] id {key}",
                )
                mask = np.asarray(masks[position], dtype=bool) if masks is not None else None
                loaded[str(key)] = LoadedRecord(record, mask)
        return [loaded[key] for key in keys]


def is_built_dataset(path: str | Path) -> bool:
    """A folder of Parquet shards with a dataset card (what the builders write), or anything that is not a local
    folder (then a Hub dataset id)."""
    folder = Path(path)
    if not folder.is_dir():
        return True
    return (folder / "README.md").is_file() and any(folder.rglob("*.parquet"))


# How each dataset names its records (ids of built datasets, WFDB record names of raw folders).
_RECORD_NAME_PATTERNS = {
    "ptbxl": re.compile(r"\d+(_lr|_hr)?"),
    "cpsc2018": re.compile(r"A\d+"),
    "csn": re.compile(r"JS\d+"),
}


def source_of_record_names(names: Sequence[str], where: str) -> str:
    """Which benchmark dataset ("ptbxl", "cpsc2018", "csn") records named like `names` come from."""
    for source, pattern in _RECORD_NAME_PATTERNS.items():
        if names and all(pattern.fullmatch(str(name)) for name in names):
            return source
    raise ValueError(
        f"Cannot tell which benchmark dataset {where} holds (record names such as {list(names)[:3]}); "
        f"name it explicitly as SOURCE=PATH with SOURCE one of {SOURCES}"
    )


def _source_of(opened: RecordSource, path: str | Path) -> str:
    if isinstance(opened, BuiltDataset):
        return source_of_record_names(list(opened.location)[:50], str(path))
    if (Path(path) / "ptbxl_database.csv").is_file():
        return "ptbxl"
    return source_of_record_names(list(opened.paths)[:50], str(path))


def open_source(path: str | Path, source: str | None = None, ptbxl_rate: int | None = None) -> tuple[str, RecordSource]:
    """Open the records of a benchmark dataset.

    Args:
        path: a dataset folder built by this package or a Hub dataset id (preferred), or a raw WFDB folder
            (PTB-XL with `ptbxl_database.csv`; CPSC2018 / Chapman-Shaoxing-Ningbo `.hea` + `.mat` records).
        source: "ptbxl", "cpsc2018" or "csn"; default: told from the record names.
        ptbxl_rate: 100 or 500, which files of a raw PTB-XL folder to read (default 500).

    Returns:
        (source name, record source).
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"Unknown data source {source!r}; the benchmark uses {SOURCES}")
    if is_built_dataset(path):
        opened: RecordSource = BuiltDataset(path)
    elif source == "ptbxl" or (source is None and (Path(path) / "ptbxl_database.csv").is_file()):
        opened = PtbxlFolder(path, ptbxl_rate or 500)
    else:
        opened = CincFolder(path)
    return source or _source_of(opened, path), opened


@dataclasses.dataclass
class TaskInputs:
    """Model inputs of one split of a task, produced batch by batch from a record source.

    Iterate over `batches(batch_size)`; afterwards `evaluated_rows` lists the table rows that were scored (in order)
    and `rejected` the records that could not be used. `missing` lists the keys of rows the source does not hold.
    With `lead_set` ("6", "II", ...: `leads_supreme.lead_set_leads`) every other lead is removed from the records
    before the feature extractor sees them, which then derives the limb leads it can; a record lacking a lead of
    the set raises a `ValueError` naming the set and the record (the figure would not be that set's).
    """

    table: TaskTable
    source: RecordSource
    feature_extractor: Any
    crop_seconds: float | None = None
    lead_set: str | None = None
    evaluated_rows: list[int] = dataclasses.field(default_factory=list)
    rejected: list[RejectedRecord] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        available = [self.source.has_record(self.table, row) for row in range(len(self.table.keys))]
        self.available_rows = [row for row, present in enumerate(available) if present]
        self.missing = [key for key, present in zip(self.table.keys, available) if not present]

    def batches(self, batch_size: int, rows: Sequence[int] | None = None) -> Iterator[dict[str, Any]]:
        """Batches {"ecg_values" (B, 12, T), "lead_mask" (B, 12), "rows" (B,) table rows} preprocessed by the model's
        feature extractor; rows whose record cannot be read or preprocessed go to `rejected`.

        Args:
            batch_size: records per batch.
            rows: which available rows, in which order (e.g. shuffled for training); default all, in table order.
        """
        self.evaluated_rows.clear()
        self.rejected.clear()
        order = list(self.available_rows if rows is None else rows)
        unavailable = sorted(set(order) - set(self.available_rows))
        if unavailable:
            raise ValueError(f"{self.table.path}: rows {unavailable[:10]} have no record in {self.source.description}")
        for chunk in batched(order, batch_size):
            kept_rows, values, lead_mask = self._preprocess(chunk, self.source.read(self.table, chunk))
            if kept_rows:
                self.evaluated_rows.extend(kept_rows)
                yield {"ecg_values": values, "lead_mask": lead_mask, "rows": np.asarray(kept_rows)}

    def _preprocess(
        self, rows: Sequence[int], items: Sequence[LoadedRecord | RejectedRecord]
    ) -> tuple[list[int], np.ndarray | None, np.ndarray | None]:
        """-> (rows kept, ecg_values (B, 12, T), lead_mask (B, 12)). The batch is preprocessed at once; only if the
        feature extractor refuses it are the records tried one by one, to reject just the bad ones."""
        for item in items:
            if isinstance(item, RejectedRecord):
                self._reject(item)
        kept = [(row, self._in_lead_set(item)) for row, item in zip(rows, items) if isinstance(item, LoadedRecord)]
        try:
            return self._extract(kept)
        except ValueError:
            usable = []
            for row, item in kept:
                try:
                    self._extract([(row, item)])
                    usable.append((row, item))
                except ValueError as error:
                    self._reject(RejectedRecord(self.table.keys[row], str(error)))
            return self._extract(usable)

    def _extract(
        self, kept: Sequence[tuple[int, LoadedRecord]]
    ) -> tuple[list[int], np.ndarray | None, np.ndarray | None]:
        if not kept:
            return [], None, None
        features = self.feature_extractor([self._cropped(item.record) for _, item in kept], return_tensors="np")
        lead_mask = features["lead_mask"]
        for position, (_, item) in enumerate(kept):
            if item.lead_mask is not None:
                lead_mask[position] &= item.lead_mask
        return [row for row, _ in kept], features["ecg_values"], lead_mask

    def _in_lead_set(self, item: LoadedRecord) -> LoadedRecord:
        """The record with only the leads of `lead_set` (all of them recorded, so it carries no mask of its own)."""
        if self.lead_set is None:
            return item
        record = item.record
        signal, names = select_lead_set(record.signal, record.lead_names, self.lead_set, record.source, item.lead_mask)
        return LoadedRecord(dataclasses.replace(record, signal=signal, lead_names=list(names)), None)

    def _reject(self, item: RejectedRecord) -> None:
        logger.warning("%s: skipping record %s: %s", self.table.spec.name, item.key, item.reason)
        self.rejected.append(item)

    def _cropped(self, record: EcgRecord) -> EcgRecord:
        if self.crop_seconds is None:
            return record
        keep = int(round(self.crop_seconds * record.sampling_rate))
        return dataclasses.replace(record, signal=record.signal[:, :keep])

    def targets(self) -> np.ndarray:
        """(n evaluated, L) targets of the rows scored so far, aligned with the scores."""
        return self.table.targets[self.evaluated_rows]

    @classmethod
    def for_split(
        cls,
        spec: TaskSpec,
        splits_dir: str | Path,
        split: str,
        source: RecordSource,
        feature_extractor: Any,
        label_names: Sequence[str] | None = None,
        lead_set: str | None = None,
    ) -> "TaskInputs":
        """The inputs of split `split` of task `spec`: its table (columns `label_names`, default all) read from
        `splits_dir`, its records from `source`, cropped as the task's protocol says (and reduced to `lead_set`)."""
        table = load_task_table(spec, splits_dir, split, label_names=label_names)
        return cls(table, source, feature_extractor, crop_seconds=spec.crop_seconds, lead_set=lead_set)


__all__ = [
    "BuiltDataset",
    "CincFolder",
    "LoadedRecord",
    "PtbxlFolder",
    "RecordSource",
    "RejectedRecord",
    "TaskInputs",
    "is_built_dataset",
    "open_source",
    "source_of_record_names",
]
