"""Training data: dataset splits, the label vocabulary, batched row reading, the collator and its signal path.

Datasets are folders (or Hub ids) written by `datasets_scripts/build_*.py`: columns `ecg` (12, T) in the order of
`lead_names`, stored as `storage_supreme` describes (int16 + `ecg_gain`, float16 or float32 mV; NaN kept), its true
length `num_samples`, `sampling_rate`, `lead_mask`, `report`, and `entities` (list of {name, category, status}) added
by `datasets_scripts/extract_entities.py`. Shapes: B = batch of ECGs, L = labels, T = samples per lead.

Rows are read a batch at a time (`ArrowRows`: one Arrow gather per batch, signals as numpy without per-row
conversion); the collator decodes the stored signals to mV, crops each to its true length and hands them to the
feature extractor, the only place where signals are repaired, resampled, cropped, padded and normalised. A training
batch that needs only the extractor's last stage (normalisation) leaves the collator as stored int16 values, and the
trainer runs that stage on the accelerator (`device_inputs`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import signal as signals_module
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..batching_supreme import batched
from ..configuration_supreme import STANDARD_LEADS
from ..entities import Vocabulary, build_vocabulary
from ..leads_supreme import select_lead_set
from ..processing_supreme import SupremeProcessor
from ..storage_supreme import GAIN_COLUMN, LENGTH_COLUMN, decode_signals, row_signals
from .batch_ring import WorkerBatchRing, ring_slots
from .device_inputs import stored_inputs
from .options import TrainingOptions
from .target_table import TargetTable

logger = logging.getLogger(__name__)

ECG_COLUMNS = ("ecg", "sampling_rate")
ENTITIES_COLUMN = "entities"
REPORT_COLUMN = "report"
# The precomputed targets (B, L) a batch of `ArrowRows` carries when it was given a `TargetTable`.
TARGETS_COLUMN = "labels"
# Columns the collator reads; the others are never decoded during training.
COLLATED_COLUMNS = (
    "id", "ecg", GAIN_COLUMN, LENGTH_COLUMN, "sampling_rate", "lead_names", "lead_mask", ENTITIES_COLUMN, REPORT_COLUMN
)
# Columns read as numpy arrays (the rest as Python objects): the signal is never turned into lists.
NUMPY_COLUMNS = ("ecg", GAIN_COLUMN, LENGTH_COLUMN, "sampling_rate", "lead_mask")
# Batches each DataLoader worker prepares ahead (torch's default is 2): a slow batch is hidden behind the others.
PREFETCH_FACTOR = 4


def load_splits(dataset: str) -> Any:
    """`datasets.load_dataset(dataset)` (a folder built by `datasets_scripts/` or a Hub id) -> `DatasetDict`.

    Raises:
        ValueError: the dataset cannot be loaded, naming it and the reason.
    """
    import datasets

    try:
        return datasets.load_dataset(str(dataset))
    except Exception as error:  # datasets raises many types for a path it cannot read
        raise ValueError(f"{dataset}: cannot load the training dataset ({error})") from error


def required_columns(objective: str) -> tuple[str, ...]:
    """Columns a split needs for an objective: ECGs always, then entities for supreme, reports for clip."""
    return (*ECG_COLUMNS, REPORT_COLUMN if objective == "clip" else ENTITIES_COLUMN)


def check_columns(split: Any, columns: Sequence[str], where: str) -> None:
    """ValueError naming the split and what is missing (with the command that adds `entities`)."""
    missing = [column for column in columns if column not in split.column_names]
    if not missing:
        return
    hint = (
        " (add it with `python datasets_scripts/extract_entities.py --dataset DIR --extractor lexicon --out DIR2`)"
        if ENTITIES_COLUMN in missing else ""
    )
    raise ValueError(f"{where} lacks the columns {missing}{hint}; it has {split.column_names}")


def _numpy_column(column: Any) -> np.ndarray:
    """An Arrow column of fixed-shape values (scalars, fixed-length lists, Array2D) -> numpy (B, *shape).

    The values buffer of the (combined) column is viewed, not converted element by element; lists of bools are
    unpacked from bits. Raises ValueError when the rows' shapes differ.
    """
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if isinstance(array, pa.ExtensionArray):
        array = array.storage
    shape: list[int] = []
    while pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or pa.types.is_fixed_size_list(array.type):
        lengths = array.value_lengths().to_numpy(zero_copy_only=False) if len(array) else np.zeros(0, np.int64)
        if len(lengths) and (lengths != lengths[0]).any():
            raise ValueError(f"rows of column {column.type} have different lengths {sorted(set(lengths.tolist()))[:5]}")
        shape.append(int(lengths[0]) if len(lengths) else 0)
        array = array.flatten()
    return array.to_numpy(zero_copy_only=False).reshape(len(column), *shape)


class RowBatch(Sequence):
    """The rows of one batch, read together: `columns` maps each column to numpy (B, ...) or a list of B values;
    indexing gives row dicts (numpy values are views), so code written for lists of rows works unchanged."""

    def __init__(self, columns: dict[str, Any]) -> None:
        self.columns = columns
        self._size = len(next(iter(columns.values()))) if columns else 0

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: int) -> dict[str, Any]:  # type: ignore[override]
        if not -self._size <= index < self._size:
            raise IndexError(f"row {index} of a batch of {self._size}")
        return {name: values[index] for name, values in self.columns.items()}


class ChunkedColumn:
    """One fixed-shape column of a (memory-mapped) Arrow table as numpy views of its chunks, gathered by row.

    The views are made once per process (zero-copy for numbers; lists of bools are unpacked once), so a batch costs
    one fancy-indexing copy per chunk it touches, with no Arrow objects built per row.
    """

    def __init__(self, column: Any) -> None:
        self.views = [_numpy_column(chunk) for chunk in column.chunks]
        self.starts = np.cumsum([0] + [len(view) for view in self.views])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows (B,) int64 of the table -> (B, *shape) values (a new array)."""
        chunk_of_row = np.searchsorted(self.starts, rows, side="right") - 1
        if len(self.views) == 1:
            return self.views[0][rows]
        first = self.views[int(chunk_of_row[0])]
        out = np.empty((len(rows), *first.shape[1:]), dtype=first.dtype)
        for chunk in np.unique(chunk_of_row):
            selected = chunk_of_row == chunk
            out[selected] = self.views[chunk][rows[selected] - self.starts[chunk]]
        return out


class ArrowRows(torch.utils.data.Dataset):
    """A split's rows for the collator, read a batch at a time: `__getitems__(indices)` returns a `RowBatch` with
    `NUMPY_COLUMNS` gathered from numpy views of the memory-mapped Arrow chunks (`ChunkedColumn`) and the other
    columns (entities, report, lead names) as Python objects. A map-style DataLoader with a batch size calls
    `__getitems__` with the whole batch, so no row is read on its own.

    Args:
        split: a `datasets.Dataset` (any indices mapping, e.g. after `select`, is honoured).
        columns: columns to read (default: those of `COLLATED_COLUMNS` the split has).
        targets: the split's precomputed targets, given to each batch as its `TARGETS_COLUMN` (B, L).
    """

    def __init__(
        self, split: Any, columns: Optional[Sequence[str]] = None, targets: Optional[TargetTable] = None
    ) -> None:
        wanted = COLLATED_COLUMNS if columns is None else columns
        self.targets = targets
        self.column_names = [column for column in wanted if column in split.column_names]
        self.split = split.select_columns(self.column_names)
        self.numpy_names = [name for name in self.column_names if name in NUMPY_COLUMNS]
        self.python_names = [name for name in self.column_names if name not in NUMPY_COLUMNS]
        self._views: Optional[dict[str, ChunkedColumn]] = None
        self._python_table: Any = None  # the Python-object columns, selected once per process
        self._row_of_index: Optional[np.ndarray] = None

    def __getstate__(self) -> dict[str, Any]:
        # Views of memory-mapped buffers are rebuilt in each worker, never pickled as copies of the data.
        return {**self.__dict__, "_views": None, "_python_table": None, "_row_of_index": None}

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.__getitems__([index])[0]

    def _positions(self, indices: Sequence[int]) -> np.ndarray:
        """Dataset indices, negative ones counted from the end -> (B,) int64 positions in the split."""
        rows = np.asarray(indices, dtype=np.int64)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"indices {indices} out of range for {len(self)} rows")
        return np.where(rows < 0, rows + len(self), rows)

    def _table_rows(self, positions: np.ndarray) -> np.ndarray:
        """Positions in the split -> rows of the underlying table (through the split's indices mapping, if any)."""
        rows = positions
        if self.split._indices is None:
            return rows
        if self._row_of_index is None:
            self._row_of_index = self.split._indices.column(0).to_numpy().astype(np.int64)  # uint64 in Arrow
        return self._row_of_index[rows]

    def __getitems__(self, indices: Sequence[int]) -> RowBatch:
        from datasets.formatting import query_table

        if self._views is None:
            self._views = {name: ChunkedColumn(self.split._data.column(name)) for name in self.numpy_names}
        positions = self._positions(indices)
        rows = self._table_rows(positions)
        columns: dict[str, Any] = {name: self._views[name].take(rows) for name in self.numpy_names}
        if self.python_names:
            if self._python_table is None:
                self._python_table = self.split._data.select(self.python_names)
            table = query_table(self._python_table, rows.tolist())
            columns.update({name: table.column(name).to_pylist() for name in self.python_names})
        ordered = {name: columns[name] for name in self.column_names}
        if self.targets is not None:
            ordered[TARGETS_COLUMN] = self.targets.take(positions)
        return RowBatch(ordered)


def formatted_for_collation(split: Any, collator: Optional["SupremeCollator"] = None) -> ArrowRows:
    """The split reduced to the columns the collator reads, rows read in batches (`ArrowRows`).

    With the training `collator`, only what it uses is read: reports only for the contrastive objective, and the
    targets of its vocabulary computed once for the whole split (`TargetTable`) in place of each batch's entities."""
    if collator is None:
        return ArrowRows(split)
    unused = {ENTITIES_COLUMN} | (set() if collator.with_reports else {REPORT_COLUMN})
    targets = None
    if collator.vocabulary is not None and ENTITIES_COLUMN in split.column_names:
        targets = TargetTable.from_split(split, ENTITIES_COLUMN, collator.vocabulary, collator.uncertain_value)
    return ArrowRows(split, [name for name in COLLATED_COLUMNS if name not in unused], targets)


def training_loader(split: Any, collator: Any, options: TrainingOptions) -> DataLoader:
    """The training DataLoader: shuffled from `options.seed`, full batches of `options.batch_size`, rows read a
    batch at a time, `options.num_workers` persistent workers (not restarted every epoch) each `PREFETCH_FACTOR`
    batches ahead, handing their ECG values over through a ring of shared buffers (`batch_ring`).
    `accelerator.prepare` later replaces the sampler by its seedable one (exact resume)."""
    workers = options.num_workers
    return DataLoader(
        formatted_for_collation(split, collator),
        batch_size=options.batch_size,
        shuffle=True,
        drop_last=True,  # equal batches: stable BatchNorm statistics and a fixed number of InfoNCE negatives
        collate_fn=WorkerBatchRing(collator, ring_slots(PREFETCH_FACTOR)) if workers > 0 else collator,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
        generator=torch.Generator().manual_seed(options.seed),
        worker_init_fn=LoaderWorkerInit(os.getpid()) if workers > 0 else None,
    )


@dataclasses.dataclass(frozen=True)
class LoaderWorkerInit:
    """DataLoader `worker_init_fn` of the training loader: the worker ends with its main process
    (`end_with_parent`) and sends its tensors by file name (`send_tensors_by_file_name`).

    Args:
        parent_pid: the main process, which starts the workers.
    """

    parent_pid: int

    def __call__(self, worker_id: int) -> None:
        end_with_parent(self.parent_pid)
        send_tensors_by_file_name(worker_id)


def end_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process as soon as its parent ends (Linux `PR_SET_PDEATHSIG`).

    torch's workers check their parent only every 5 s, so a main process killed by SIGKILL or SIGTERM left its workers
    alive for up to 15 s, holding their shared-memory buffers. Elsewhere than Linux, torch's own check remains."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signals_module.SIGKILL, 0, 0, 0) != 0:
        logger.warning("DataLoader worker %d: cannot ask to end with the main process (errno %d)", os.getpid(),
                       ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


# prctl(2) option: the signal this process gets when its parent ends.
_PR_SET_PDEATHSIG = 1


def send_tensors_by_file_name(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: the worker hands its shared ring buffers over by file name ("file_system").

    By file descriptor (torch's default on Linux) every batch's buffer goes through a socket of its own as a new
    descriptor, which the main process then maps anew; by name it reopens a buffer it has seen from torch's cache.
    2 workers at 500 Hz on the 2-core machine: 0.57 / 0.58 of the memmap read against 0.49 / 0.44
    (`bench/input_pipeline.py --repeat-rows 10`). Set in the worker only: the main process and the user's other
    DataLoaders keep their strategy (the receiving side reads either)."""
    if "file_system" in torch.multiprocessing.get_all_sharing_strategies():
        torch.multiprocessing.set_sharing_strategy("file_system")


# Rows of a column converted to Python objects at a time when a whole split is read (vocabulary, target table).
COLUMN_CHUNK = 4096


def column_in_chunks(split: Any, column: str, chunk_rows: int = COLUMN_CHUNK) -> Iterator[Any]:
    """The values of one column of a `datasets.Dataset`, in row order, converted `chunk_rows` at a time: the whole
    column as Python objects (`split[column]`) would take memory in proportion to the split."""
    selected = split.select_columns([column])
    for start in range(0, len(split), chunk_rows):
        yield from selected[start : start + chunk_rows][column]


def resolve_vocabulary(options: TrainingOptions, train_split: Any) -> Optional[Vocabulary]:
    """The label vocabulary of the run: `--vocabulary` if given, else built from the train split's entities.

    Returns None only for `objective="clip"` on data without entities (the model then has no label vocabulary of
    its own and the pipeline needs `candidate_labels`).

    Raises:
        ValueError: an unreadable vocabulary file, or no label reaching `--min-label-count`.
    """
    if options.vocabulary:
        vocabulary = Vocabulary.load(options.vocabulary)
        source = options.vocabulary
    elif ENTITIES_COLUMN in train_split.column_names:
        vocabulary = build_vocabulary(column_in_chunks(train_split, ENTITIES_COLUMN), min_count=options.min_label_count)
        source = f"the entities of split {options.train_split!r} (min count {options.min_label_count})"
    elif options.objective == "clip":
        logger.warning("No `entities` column and no --vocabulary: the model is saved without a label vocabulary")
        return None
    else:
        raise ValueError(
            f"split {options.train_split!r} has no {ENTITIES_COLUMN!r} column and no --vocabulary was given"
        )
    if not vocabulary.labels:
        raise ValueError(f"the vocabulary from {source} is empty: lower --min-label-count or extract entities first")
    logger.info("Vocabulary of %d labels from %s", len(vocabulary), source)
    return vocabulary


@dataclasses.dataclass
class SupremeCollator:
    """Turns a list of dataset rows into model inputs, with one call of the processor per batch.

    Args:
        processor: gives `ecg_values` (B, 12, T) and `lead_mask` (B, 12) from the rows' signals, and report tokens.
        vocabulary: when given, `labels` (B, L) multi-hot targets from each row's `entities`.
        uncertain_value: target of an entity stated as uncertain.
        with_reports: add `report_input_ids` / `report_attention_mask` (B, S_r) for the contrastive objective.
        lead_set: a lead-set name (`leads_supreme.lead_set_leads`): every other lead is removed from the records
            before the feature extractor sees them, as from a device recording only those leads (it then derives
            the limb leads it can and zero-fills and masks the rest). A record lacking a lead of the set is refused.
        normalize_on_device: hand batches that need nothing but normalisation over as stored signals
            (`device_inputs.stored_inputs`), for the trainer to normalise on the accelerator.
    """

    processor: SupremeProcessor
    vocabulary: Optional[Vocabulary] = None
    uncertain_value: float = 1.0
    with_reports: bool = False
    lead_set: Optional[str] = None
    normalize_on_device: bool = False

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """rows: dicts with `ecg` (12, T), `sampling_rate`, optional `lead_names`, `lead_mask` (12,), `entities`,
        `report` -> {"ecg_values", "lead_mask"[, "labels"][, "report_input_ids", "report_attention_mask"]}."""
        columns = signal_columns(rows)
        stored = None
        if self.normalize_on_device and self.lead_set is None:
            stored = stored_inputs(columns, self.processor.feature_extractor, row_sources(rows))
        if stored is not None:
            batch = stored
        elif self.lead_set is None:
            batch = dict(ecg_features(self.processor.feature_extractor, columns))
        else:
            batch = dict(self._lead_set_features(columns, rows))
        if self.with_reports:
            reports = [str(report or "") for report in column_values(rows, REPORT_COLUMN)]
            batch.update(self.processor(reports=reports, return_tensors="pt"))
        if "lead_mask" in columns and self.lead_set is None and stored is None:
            # Leads the source lacked were stored as zeros; the dataset's mask keeps them masked for the encoder.
            stored_mask = torch.as_tensor(np.asarray(columns["lead_mask"], dtype=bool))
            batch["lead_mask"] = batch["lead_mask"] & stored_mask
        if self.vocabulary is not None:
            batch["labels"] = torch.from_numpy(self._targets(rows))
        return batch

    def _targets(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """(B, L) float32: the rows' precomputed targets (`TARGETS_COLUMN`) if they carry them, else from `entities`."""
        if isinstance(rows, RowBatch) and TARGETS_COLUMN in rows.columns:
            return rows.columns[TARGETS_COLUMN]
        return self.vocabulary.multi_hot_batch(column_values(rows, ENTITIES_COLUMN), self.uncertain_value)

    def _lead_set_features(self, columns: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> Any:
        """`ecg_values` (B, 12, num_samples), `lead_mask` (B, 12) of the records reduced to `lead_set` (per ECG:
        the reduced records are no longer one stored (B, 12, n) array)."""
        signals, lead_names = self._reduced_to_lead_set(
            stored_signals(columns), columns.get("lead_names"), columns.get("lead_mask"), rows
        )
        rates = [float(rate) for rate in columns["sampling_rate"]]
        return self.processor.feature_extractor(
            signals, sampling_rate=rates, lead_names=lead_names, return_tensors="pt"
        )

    def _reduced_to_lead_set(
        self, signals: list[np.ndarray], lead_names: Optional[Sequence[Sequence[str]]], stored_mask: Any,
        rows: Sequence[Mapping[str, Any]],
    ) -> tuple[list[np.ndarray], list[tuple[str, ...]]]:
        """Each record (12, T_b) reduced to the rows of `lead_set` (k, T_b) and their k names. The stored lead mask
        (12,) marks leads the source lacked; those count as missing, so a set needing them is refused."""
        reduced, names = [], []
        for index, (signal, source) in enumerate(zip(signals, row_sources(rows))):
            row_names = lead_names[index] if lead_names is not None else STANDARD_LEADS
            mask = None if stored_mask is None else np.asarray(stored_mask[index], dtype=bool)
            signal, kept = select_lead_set(signal, row_names, self.lead_set, source, mask)
            reduced.append(signal)
            names.append(kept)
        return reduced, names


def column_values(rows: Sequence[Mapping[str, Any]], name: str) -> Sequence[Any]:
    """The B values of one column of a batch (None where a row lacks it), without building row dicts."""
    if isinstance(rows, RowBatch):
        return rows.columns.get(name, [None] * len(rows))
    return [row.get(name) for row in rows]


def row_sources(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """How messages name each row of a batch: "record 'id'" by its `id` column, else "row i of the batch"."""
    return [f"record {row_id!r}" if row_id is not None else f"row {index} of the batch"
            for index, row_id in enumerate(column_values(rows, "id"))]


def signal_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The signal columns of a batch: `ecg` (B, 12, T) as stored, `sampling_rate` (B,), and when present `ecg_gain`
    (B, 12), `num_samples` (B,), `lead_mask` (B, 12), `lead_names` (B lists). A `RowBatch` gives them as read;
    other rows (dicts, e.g. datasets' own formatting) are stacked."""
    names = ("ecg", GAIN_COLUMN, LENGTH_COLUMN, "sampling_rate", "lead_mask", "lead_names")
    if isinstance(rows, RowBatch):
        return {name: rows.columns[name] for name in names if name in rows.columns}
    columns: dict[str, Any] = {
        name: np.stack([np.asarray(row[name]) for row in rows]) for name in names[:-1] if name in rows[0]
    }
    if "lead_names" in rows[0]:
        columns["lead_names"] = [list(row["lead_names"]) for row in rows]
    return columns


def stored_signals(columns: Mapping[str, Any]) -> list[np.ndarray]:
    """B float32 mV signals (12, num_samples_b) from `signal_columns`: decoded (NaN where missing) and cropped to each
    record's true length, so the feature extractor sees what the raw record holds."""
    return row_signals(columns["ecg"], columns.get(LENGTH_COLUMN), columns.get(GAIN_COLUMN))


def ecg_features(feature_extractor: Any, columns: Mapping[str, Any]) -> Any:
    """`ecg_values` (B, 12, num_samples) and `lead_mask` (B, 12) tensors from `signal_columns`: when every row has the
    same true length, rate and lead order, the decoded (B, 12, n) batch goes through `feature_extractor.batch` at
    once; otherwise each row (12, n_b), cropped to its length, goes through the per-ECG path."""
    rates = np.asarray(columns["sampling_rate"], dtype=float)
    names = columns.get("lead_names")
    lengths = columns.get(LENGTH_COLUMN)
    uniform = (rates == rates[0]).all() and (names is None or all(row == names[0] for row in names))
    if uniform and (lengths is None or (np.asarray(lengths) == lengths[0]).all()):
        decoded = decode_signals(columns["ecg"], columns.get(GAIN_COLUMN))
        length = int(lengths[0]) if lengths is not None else decoded.shape[-1]
        lead_names = None if names is None else list(names[0])
        return feature_extractor.batch(decoded[..., :length], float(rates[0]), lead_names, return_tensors="pt")
    return feature_extractor(
        stored_signals(columns), sampling_rate=[float(rate) for rate in rates], lead_names=names, return_tensors="pt"
    )


def ecg_batches(
    split: Any, collator: SupremeCollator, indices: Sequence[int], batch_size: int
) -> Iterator[dict[str, torch.Tensor]]:
    """Model inputs of the rows `indices` of a split formatted by `formatted_for_collation`, `batch_size` at a time."""
    for chunk in batched(indices, batch_size):
        yield collator(split.__getitems__([int(index) for index in chunk]))


__all__ = [
    "ArrowRows",
    "RowBatch",
    "SupremeCollator",
    "check_columns",
    "column_in_chunks",
    "ecg_batches",
    "formatted_for_collation",
    "load_splits",
    "required_columns",
    "resolve_vocabulary",
    "signal_columns",
    "stored_signals",
    "LoaderWorkerInit",
    "end_with_parent",
    "send_tensors_by_file_name",
    "training_loader",
]
