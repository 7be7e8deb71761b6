"""Batches handed from DataLoader workers to the main process through a ring of shared-memory buffers.

A tensor that a worker returns is copied into a new shared-memory segment for every batch, which the main process then
receives (one file descriptor per tensor) and maps anew: for a (32, 12, 5000) batch of ECG values that costs more than
reading it (`bench/input_pipeline.py`, column "batches moved alone"), and each further tensor of a batch (targets, lead
mask, gains) costs nearly as much again, however small. `WorkerBatchRing` makes each worker write all the tensors of a
batch into one buffer of a few allocated once in shared memory, and return views of it: torch sends the views of one
shared storage as one handle, with no new allocation (1 worker, a batch of 4 tensors: 6,400-10,000 ECG/s as 4
segments, 16,800-20,300 as views of one).

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


# Every tensor of a buffer starts on a 64-byte boundary (a cache line; any dtype's alignment).
_ALIGNMENT = 64


def _aligned(size: int) -> int:
    return -(-size // _ALIGNMENT) * _ALIGNMENT


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


@dataclasses.dataclass
class WorkerBatchRing:
    """Wraps a collate function: in a DataLoader worker, all the tensors of each batch are copied into the next of
    `slots` shared buffers of that worker and returned as views of it; in the main process batches pass unchanged.

    Args:
        collate: the wrapped collate function (rows -> dict of tensors and other values).
        slots: buffers per worker (see the module's note on how many are safe).
    """

    collate: Callable[[Sequence[Any]], dict[str, Any]]
    slots: int
    _buffers: dict[int, torch.Tensor] = dataclasses.field(default_factory=dict, repr=False)
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
        tensors = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
        buffer = self._buffer(slot, sum(_aligned(_nbytes(value)) for value in tensors.values()))
        offset = 0
        for key, value in tensors.items():
            size = _nbytes(value)
            view = buffer[offset : offset + size].view(value.dtype).view(value.shape)
            batch[key] = view.copy_(value)
            offset += _aligned(size)
        return batch

    def _buffer(self, slot: int, size: int) -> torch.Tensor:
        """The shared uint8 buffer of `slot`, of at least `size` bytes (reallocated when a batch needs more)."""
        buffer = self._buffers.get(slot)
        if buffer is None or buffer.numel() < size:
            buffer = torch.empty(size, dtype=torch.uint8).share_memory_()
            self._buffers[slot] = buffer
        return buffer


__all__ = ["WorkerBatchRing", "ring_slots"]
