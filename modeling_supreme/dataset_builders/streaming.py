"""The streaming, resumable dataset build shared by every source (PTB-XL, MIMIC-IV-ECG, CinC, WFDB folders).

A source module turns its metadata into, per split, a stream of `RecordTask`s (a record path plus the values
of its non-signal columns: report, labels, ids) and `Rejection`s (records it already knows it cannot use).
`build_dataset` then:

1. reads the signals record by record in a pool of processes (`read_records` with a `SignalReader`:
   `read_ecg`, standard lead order, NaN handling, crop / zero-pad to a fixed length), with a bounded number
   of records in flight, so memory does not grow with the number of records;
2. writes the rows in order into Parquet shards of `shard_size` rows (`ShardWriter`; `ecg` is
   `Array2D((12, T), signal_dtype)`, see `storage_supreme`), each written under a temporary name and renamed when
   complete;
3. records every record that cannot be used in `rejects.jsonl` (path, reason, category) and goes on;
4. after every finished shard, rewrites the progress manifest (`progress.json`, atomically): a re-run after
   an interruption skips the records of finished shards and continues with the next shard;
5. writes the dataset card (`README.md` with the `configs:` block) and returns a `BuildSummary`.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import dataclasses
import itertools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from datasets import Features, SplitInfo
from tqdm.auto import tqdm

from ..batching_supreme import batched
from ..configuration_supreme import STANDARD_LEADS
from ..storage_supreme import DEFAULT_SIGNAL_DTYPE, storage_note
from .card import DEFAULT_CONFIG, DatasetDescription, write_dataset_card
from .progress import PROGRESS_FILE, REJECTS_FILE, ProgressManifest, RejectLog
from .shards import ShardWriter
from .signals import SignalArrays, SignalReader, signal_features
from .tasks import RECORD_ERRORS, RecordRejected, RecordTask, Rejection, StreamItem, part_range

logger = logging.getLogger(__name__)

# Pseudo-split of the records that belong to no split; it only ever holds rejections.
UNASSIGNED_SPLIT = "(unassigned)"


# ----------------------------------------------------------------------------------------------------------
# Reading records in a bounded pool of processes
# ----------------------------------------------------------------------------------------------------------

ReadOutcome = tuple[StreamItem, SignalArrays | Rejection]


def _read_chunk(reader: SignalReader, items: Sequence[StreamItem]) -> list[ReadOutcome]:
    """Worker: read the records of one chunk; record-level errors become rejections."""
    outcomes: list[ReadOutcome] = []
    for item in items:
        if isinstance(item, Rejection):
            outcomes.append((item, item))
            continue
        try:
            outcomes.append((item, reader(item.path)))
        except RECORD_ERRORS as error:
            outcomes.append((item, Rejection(item.record_id, item.path, str(error) or repr(error), _category(error))))
    return outcomes


def _category(error: Exception) -> str:
    if isinstance(error, RecordRejected):
        return error.category
    if isinstance(error, FileNotFoundError):
        return "missing file"
    return "unreadable record"


# How often a worker checks that the process that started it is still alive (where the kernel cannot tell it).
PARENT_CHECK_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent(parent_pid: int) -> None:
    """Worker initializer: the worker dies when the build's process does, whatever kills it (SIGKILL, SIGTERM).

    Without this, a killed build leaves its readers running under PID 1. On Linux the kernel sends SIGKILL to the
    worker when its parent exits (`PR_SET_PDEATHSIG`); everywhere, a daemon thread also exits the worker once its
    parent is gone (it then has another parent process id).
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError) as error:  # an unusual libc: the watchdog thread remains
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", error)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="parent-watchdog", daemon=True).start()


def _exit_when_orphaned(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)  # no clean-up to do: the parent, which owns every output file, is gone


def read_records(
    items: Iterable[StreamItem], reader: SignalReader, num_proc: int = 1, chunk_size: int = 16
) -> Iterator[ReadOutcome]:
    """Read the records of `items` in their order, with `num_proc` processes (1 = in this process).

    At most `2 * num_proc` chunks of `chunk_size` records are in flight, so memory stays bounded whatever
    the number of records. Yields (item, SignalArrays or Rejection) in the order of `items`. The workers end with
    this process, also when it is killed (`_end_with_parent`).
    """
    if num_proc <= 1:
        for item in items:
            yield from _read_chunk(reader, [item])
        return
    chunks = batched(items, chunk_size)
    pool = ProcessPoolExecutor(max_workers=num_proc, initializer=_end_with_parent, initargs=(os.getpid(),))
    try:
        pending: collections.deque[Future[list[ReadOutcome]]] = collections.deque(
            pool.submit(_read_chunk, reader, chunk) for chunk in itertools.islice(chunks, 2 * num_proc)
        )
        while pending:
            outcomes = pending.popleft().result()
            next_chunk = next(chunks, None)
            if next_chunk is not None:
                pending.append(pool.submit(_read_chunk, reader, next_chunk))
            yield from outcomes
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------------------------------------
# The build
# ----------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """How the build runs (not what it builds).

    Attributes:
        shard_size: rows per Parquet shard.
        num_proc: processes reading records (1 = read in the main process).
        chunk_size: records sent to a worker at a time.
        row_group_size: rows buffered before they are written (Parquet row group).
        overwrite: discard what the output folder holds and start again (instead of resuming an unfinished
            build with the same settings, or refusing a folder that holds another build).
        config_name: name of the dataset configuration in the card.
        progress: show a progress bar per split.
        signal_dtype: storage format of `ecg` (`storage_supreme.SIGNAL_DTYPES`); replaces the reader's.
        num_parts: the record list is cut into this many contiguous parts (`tasks.part_range`) built apart, e.g. one
            per machine, and merged afterwards (`parts.merge_parts`); 1 = the whole list.
        part_index: which part this build makes (0..num_parts-1).
    """

    shard_size: int = 1000
    num_proc: int = 1
    chunk_size: int = 16
    row_group_size: int = 100
    overwrite: bool = False
    config_name: str = DEFAULT_CONFIG
    progress: bool = True
    signal_dtype: str = DEFAULT_SIGNAL_DTYPE
    num_parts: int = 1
    part_index: int = 0

    def __post_init__(self) -> None:
        part_range(0, self.num_parts, self.part_index)  # raises on an impossible part


@dataclasses.dataclass
class BuildSummary:
    """What a build produced: rows per split, rejected records (total and per reason), timing."""

    folder: Path
    rows: dict[str, int]
    rejected: int
    rejected_by_reason: dict[str, int]
    resumed_shards: int
    seconds: float
    records_read: int

    @property
    def built(self) -> int:
        return sum(self.rows.values())

    def format(self) -> str:
        """A few lines for a CLI to print."""
        per_split = ", ".join(f"{split}: {count}" for split, count in self.rows.items())
        lines = [
            f"Dataset in {self.folder}",
            f"  built {self.built} records ({per_split})",
            f"  rejected {self.rejected} records (listed with reasons in {self.folder / REJECTS_FILE})",
        ]
        lines += [
            f"    {count:>8}  {reason}"
            for reason, count in sorted(self.rejected_by_reason.items(), key=lambda x: -x[1])
        ]
        if self.resumed_shards:
            lines.append(f"  resumed after {self.resumed_shards} shards finished by an earlier run")
        rate = self.records_read / self.seconds if self.seconds > 0 else float("nan")
        lines.append(f"  {self.records_read} records read in {self.seconds:.1f} s ({rate:.1f} records/s)")
        return "\n".join(lines)


def build_dataset(
    folder: str | Path,
    splits: Mapping[str, Iterable[StreamItem]],
    reader: SignalReader,
    extra_features: Mapping[str, Any],
    description: DatasetDescription,
    settings: BuildSettings = BuildSettings(),
    signature: Mapping[str, Any] | None = None,
    unassigned: Iterable[Rejection] = (),
) -> BuildSummary:
    """Build (or resume building) a dataset folder: Parquet shards per split, `rejects.jsonl`, `progress.json`
    and the card `README.md`.

    Args:
        folder: output folder; created if needed.
        splits: split name -> stream of `RecordTask` / `Rejection`, in a deterministic order (a resumed
            run skips the first items of each split by position). Streams are consumed one split at a time.
        reader: reads and shapes the signals (sampling rate, window).
        extra_features: datasets features of the source-specific columns in `RecordTask.columns`.
        description: title, prose, license and extra YAML of the card.
        settings: shard size, processes, overwrite.
        signature: what defines the build's content (source, options); a folder holding a build with another
            signature is not resumed but refused unless `settings.overwrite`.
        unassigned: records of the source that belong to no split (e.g. not listed in the benchmark tables);
            they go to `rejects.jsonl` under the split name `UNASSIGNED_SPLIT`.

    With `settings.num_parts` > 1 every stream (and `unassigned`) must be `Sized` (a list, `tasks.SizedStream`):
    the build makes part `settings.part_index` of each, positions counted in the whole stream, so that
    `parts.merge_parts` gives the folder one build of the whole would.

    Returns:
        A `BuildSummary`.

    Raises:
        FileExistsError: the folder holds another build and `settings.overwrite` is False.
        ValueError: a part is asked of a stream that does not know its length.
    """
    started = time.perf_counter()
    folder = Path(folder)
    reader = dataclasses.replace(reader, signal_dtype=settings.signal_dtype)
    length, _, _ = reader.window.samples(reader.sampling_rate)
    features = Features({**signal_features(length, reader.signal_dtype), **extra_features})
    full_signature = {
        **(signature or {}),
        "sampling_rate": reader.sampling_rate,
        "window": dataclasses.asdict(reader.window),
        "shard_size": settings.shard_size,
        "features": features.to_dict(),
    }
    if settings.num_parts > 1:
        full_signature["part"] = [settings.part_index, settings.num_parts]
    manifest = ProgressManifest.load_or_create(folder, full_signature, settings.overwrite)
    if settings.overwrite and folder.exists():
        _clear_build_files(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest.save()
    rejects = RejectLog(folder)
    rejects.keep_finished({name: progress.consumed for name, progress in manifest.splits.items()})
    resumed_shards = sum(len(progress.shards) for progress in manifest.splits.values())
    if resumed_shards:
        logger.info("%s: resuming after %d finished shards", folder, resumed_shards)
    records_read = 0
    for split, items in {UNASSIGNED_SPLIT: unassigned, **splits}.items():
        records_read += _build_split(folder, split, items, reader, features, settings, manifest, rejects)
    split_infos = [
        SplitInfo(name=name, num_bytes=manifest.splits[name].num_bytes, num_examples=manifest.splits[name].rows)
        for name in splits
        if manifest.splits[name].rows > 0
    ]
    rows = {info.name: info.num_examples for info in split_infos}
    for name in splits:
        if name not in rows:
            logger.warning("%s: split %r has no records and is left out of the card", folder, name)
    reasons = rejects.categories()
    summary = BuildSummary(
        folder, rows, sum(reasons.values()), dict(reasons), resumed_shards, time.perf_counter() - started, records_read
    )
    notes = f"{build_notes(summary)}\n\n{storage_note(reader.signal_dtype)}"
    write_dataset_card(folder, description, features, split_infos, settings.config_name, notes)
    return summary


def build_notes(summary: BuildSummary) -> str:
    """The card's "Build" section: rejected records per reason."""
    lines = [
        f"{summary.built} records built; {summary.rejected} left out (see `{REJECTS_FILE}` for each record and reason)."
    ]
    lines += [
        f"- {reason}: {count}" for reason, count in sorted(summary.rejected_by_reason.items(), key=lambda x: -x[1])
    ]
    return "\n".join(lines)


def _clear_build_files(folder: Path) -> None:
    """Remove what a build writes (shards, manifest, rejects, card) before starting again."""
    for path in (folder / "data").glob("*.parquet"):
        path.unlink()
    for path in (folder / "data").glob(".*.partial"):
        path.unlink()
    for name in (PROGRESS_FILE, REJECTS_FILE, "README.md"):
        (folder / name).unlink(missing_ok=True)


def _build_split(
    folder: Path,
    split: str,
    items: Iterable[StreamItem],
    reader: SignalReader,
    features: Features,
    settings: BuildSettings,
    manifest: ProgressManifest,
    rejects: RejectLog,
) -> int:
    """Build one split from where the manifest says it stopped; returns the number of records read."""
    progress = manifest.split(split)
    if progress.complete:
        logger.info("%s: split %r already complete (%d rows)", folder, split, progress.rows)
        return 0
    start, stop = _part_of_stream(split, items, settings)
    progress.consumed = max(progress.consumed, start)
    writer = ShardWriter(folder, split, features, settings.shard_size, settings.row_group_size, len(progress.shards))
    writer.abort()  # a partial shard left by an interrupted run
    remaining = itertools.islice(items, progress.consumed, stop)
    position = progress.consumed
    records_read = 0
    try:
        with contextlib.closing(read_records(remaining, reader, settings.num_proc, settings.chunk_size)) as outcomes:
            progress_bar = tqdm(
                outcomes,
                desc=split,
                unit=" records",
                initial=position,
                mininterval=2.0,
                disable=not settings.progress or split == UNASSIGNED_SPLIT,
            )
            for item, outcome in progress_bar:
                if isinstance(outcome, Rejection):
                    rejects.add(split, position, outcome)
                else:
                    records_read += 1
                    finished = writer.add(_row(item, outcome, reader.sampling_rate))
                    if finished is not None:
                        progress.shards.append(finished)
                        progress.consumed = position + 1
                        manifest.save()
                position += 1
        finished = writer.finish()
    except BaseException:
        writer.abort()
        raise
    if finished is not None:
        progress.shards.append(finished)
    progress.consumed = position
    progress.complete = True
    manifest.save()
    return records_read


def _part_of_stream(split: str, items: Iterable[StreamItem], settings: BuildSettings) -> tuple[int, int | None]:
    """Positions [start, stop) of the stream this build makes: all of it (stop None), or its part."""
    if settings.num_parts == 1:
        return 0, None
    if not isinstance(items, Sized):
        raise ValueError(f"split {split!r}: its records cannot be cut into parts (the source does not count them)")
    return part_range(len(items), settings.num_parts, settings.part_index)


def _row(task: StreamItem, signal: SignalArrays, sampling_rate: int) -> dict[str, Any]:
    assert isinstance(task, RecordTask)
    return {
        **task.columns,
        "id": task.record_id,
        **signal.columns(),
        "sampling_rate": sampling_rate,
        "lead_names": list(STANDARD_LEADS),
    }
