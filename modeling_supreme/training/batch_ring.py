"""Batches handed from DataLoader workers to the main process through a ring of shared-memory buffers.

A tensor that a worker returns is copied into a new shared-memory segment for every batch, which the main process then
maps anew: for a (32, 12, 5000) float32 batch of ECG values that costs more than reading and preprocessing it
(`bench/input_pipeline.py`, column "batches moved alone"). `WorkerBatchRing` makes each worker write its batches' ECG
values into a few buffers allocated once in shared memory and return those: torch sends a tensor that is already
shared as a handle to the same segment, with no new allocation.

A buffer is written again `slots` batches of its worker later. The DataLoader keeps at most `prefetch_factor` batches
of a worker in flight, the training loop holds the current batch and accelerate's loader one more, so
`slots >= prefetch_factor + 2` never overwrites a batch still in use (`ring_slots` adds one more); a consumer that
keeps batches longer than that must copy them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch


def ring_slots(prefetch_factor: int) -> int:
    """Buffers per worker for `prefetch_factor`: in flight, the step's batch, accelerate's look-ahead, one spare."""
    return prefetch_factor + 3


@dataclasses.dataclass
class WorkerBatchRing:
    """Wraps a collate function: in a DataLoader worker, the tensors of each batch are copied into the next of `slots`
    shared buffers of that worker and returned as those; in the main process batches pass unchanged. Small tensors
    (targets, lead masks, gains) go through the ring too: a new shared segment costs about the same for a few kB as
    for megabytes.

    Args:
        collate: the wrapped collate function (rows -> dict of tensors).
        slots: buffers per worker (see the module's note on how many are safe).
    """

    collate: Callable[[Sequence[Any]], dict[str, Any]]
    slots: int
    _buffers: dict[tuple[str, int], torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)
    _batches: int = dataclasses.field(default=0, repr=False)

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"WorkerBatchRing needs at least one slot, got {self.slots}")

    def __getstate__(self) -> dict[str, Any]:
        # Each worker allocates its own buffers; none is pickled into it.
        return {**self.__dict__, "_buffers": {}, "_batches": 0}

    def __call__(self, rows: Sequence[Any]) -> dict[str, Any]:
        batch = self.collate(rows)
        if torch.utils.data.get_worker_info() is None:
            return batch
        slot = self._batches % self.slots
        self._batches += 1
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                batch[key] = self._buffer(key, slot, value).copy_(value)
        return batch

    def _buffer(self, key: str, slot: int, like: torch.Tensor) -> torch.Tensor:
        """The shared buffer of `key` in `slot`, (re)allocated when the batch's shape or dtype is new."""
        buffer = self._buffers.get((key, slot))
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = torch.empty_like(like, memory_format=torch.contiguous_format).share_memory_()
            self._buffers[(key, slot)] = buffer
        return buffer


__all__ = ["WorkerBatchRing", "ring_slots"]
