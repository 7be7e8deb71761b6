"""What a source hands to the builder: records to build (`RecordTask`) and records left out (`Rejection`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


class RecordRejected(ValueError):
    """A record that is readable but unusable (too short, all NaN, wrong sampling rate...).

    Attributes:
        category: a short, record-independent reason ("too short") that groups rejects in the summary.
    """

    def __init__(self, message: str, category: str):
        super().__init__(message)
        self.category = category

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # picklable across worker processes
        return type(self), (str(self), self.category)


# Errors that concern one record (unreadable, malformed, unusable): it is rejected and the build goes on.
# Anything else (a bug, KeyboardInterrupt, MemoryError) stops the build; a re-run resumes it.
RECORD_ERRORS = (ValueError, OSError)


@dataclasses.dataclass(frozen=True)
class RecordTask:
    """One record to build.

    Attributes:
        record_id: value of the `id` column, unique within the dataset.
        path: the WFDB record, with or without extension (what `read_ecg` accepts).
        columns: values of the non-signal columns (`report`, labels, source ids), small and picklable.
    """

    record_id: str
    path: str
    columns: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A record left out of the dataset (one line of `rejects.jsonl`).

    Attributes:
        record_id: the record's id.
        path: the record (or metadata file) concerned.
        reason: the full message, naming the record and the problem.
        category: a short, record-independent reason ("too short", "unreadable record") for the summary.
    """

    record_id: str
    path: str
    reason: str
    category: str


StreamItem = RecordTask | Rejection


class SizedStream:
    """A stream of `StreamItem`s that knows its length before it is read, so that a build split into parts
    (`part_range`) can take its part without reading the stream twice. Iterable once, like the stream it wraps."""

    def __init__(self, items: Iterable[StreamItem], length: int):
        self.items = items
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[StreamItem]:
        return iter(self.items)


def part_range(total: int, num_parts: int, index: int) -> tuple[int, int]:
    """Positions [start, stop) of part `index` of `num_parts` contiguous, near-equal parts of `total` items (the
    first `total % num_parts` parts take one item more), as `datasets.Dataset.shard(contiguous=True)` cuts them:
    the parts in index order are the whole stream in its order.

    Raises:
        ValueError: `num_parts` < 1 or `index` outside 0..num_parts-1.
    """
    if num_parts < 1 or not 0 <= index < num_parts:
        raise ValueError(f"part {index} of {num_parts}: need num_parts >= 1 and 0 <= index < num_parts")
    size, extra = divmod(total, num_parts)
    start = index * size + min(index, extra)
    return start, start + size + (index < extra)
