"""The multi-hot targets of a training split, computed once before the first epoch instead of once per batch.

Turning a batch's `entities` (lists of dicts) into targets cost a worker a third of its time on a batch at 500 Hz:
reading the column as Python objects, then validating every entity (`bench/input_pipeline.py`). The targets depend
on nothing but the row, so `TargetTable` holds them for every row of the split, and a batch takes its rows from it.
Values are stored as one-byte codes into the few distinct target values (0, 1, the uncertain value), so a
MIMIC-IV-ECG split of 800,000 reports and 300 labels takes 240 MB, shared by forked DataLoader workers.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from ..entities import Vocabulary

logger = logging.getLogger(__name__)

# Rows converted to Python objects at a time while the table is built.
BUILD_CHUNK = 4096


@dataclasses.dataclass(frozen=True)
class TargetTable:
    """Targets of the N rows of a split over L labels: `codes` (N, L) uint8 index `values` (K,) float32.

    `take(indices)` gives exactly `vocabulary.multi_hot_batch` of those rows' entities, bit for bit."""

    codes: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_split(cls, split: Any, column: str, vocabulary: Vocabulary, uncertain_value: float) -> "TargetTable":
        """The targets of every row of `split` (a `datasets.Dataset`) from its entity `column`, in row order."""
        codes = np.zeros((len(split), len(vocabulary)), dtype=np.uint8)
        values: dict[float, int] = {0.0: 0}
        entities = split.select_columns([column])
        for start in range(0, len(split), BUILD_CHUNK):
            rows = entities[start : start + BUILD_CHUNK][column]
            targets = vocabulary.multi_hot_batch(rows, uncertain_value)
            distinct, inverse = np.unique(targets, return_inverse=True)
            for value in distinct.tolist():
                values.setdefault(value, len(values))
            if len(values) > 256:
                raise ValueError(f"targets take {len(values)} distinct values; a TargetTable holds at most 256")
            remap = np.array([values[value] for value in distinct.tolist()], dtype=np.uint8)
            codes[start : start + len(rows)] = remap[inverse.reshape(targets.shape)]
        table = np.zeros(len(values), dtype=np.float32)
        for value, code in values.items():
            table[code] = value
        logger.info("Targets of %d rows x %d labels computed once (%.1f MB)", *codes.shape, codes.nbytes / 1e6)
        return cls(codes, table)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Row indices (B,) -> targets (B, L) float32."""
        return self.values[self.codes[indices]]


__all__ = ["TargetTable"]
