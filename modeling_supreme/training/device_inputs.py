"""ECG batches normalised where the model runs: the collator hands stored signals over, the trainer normalises them.

Normalising a (32, 12, 5000) batch on the host costs more than reading it (`bench/input_pipeline.py`), and a float32
batch is twice the bytes of the int16 values it came from. When a batch needs nothing but the feature extractor's
last stage (`SupremeFeatureExtractor.needs_only_normalization`: at the model's rate, nothing to filter or crop, the
standard lead order, no missing sample), the collator puts the stored values themselves in it (`stored_inputs`:
`ecg_stored` (B, 12, n) int16 or float16/float32, `ecg_gain` (B, 12), `lead_mask` (B, 12), `ecg_sources`), as timm's
prefetcher ships uint8 images. `normalized_on_device` then decodes them on the accelerator and runs
`normalize_batch` there: the same code as the host path, so the model sees the same values (`tests/
test_device_inputs.py`). Batches that need more (resampling, a filter, gaps to repair) go through the host path
whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

import numpy as np
import torch

from ..configuration_supreme import STANDARD_LEADS
from ..storage_supreme import GAIN_COLUMN, INT16_MISSING, LENGTH_COLUMN, decode_tensor

STORED_KEYS = ("ecg_stored", "ecg_gain", "ecg_sources")


def _uniform_length(columns: Mapping[str, Any]) -> Optional[int]:
    """The rows' common true length (the stored width without a `num_samples` column), or None if they differ."""
    lengths = columns.get(LENGTH_COLUMN)
    if lengths is None:
        return int(np.shape(columns["ecg"])[-1])
    lengths = np.asarray(lengths)
    return int(lengths[0]) if (lengths == lengths[0]).all() else None


def _has_missing_samples(values: np.ndarray) -> bool:
    """Whether stored values (B, 12, n) hold a missing sample: the int16 sentinel or a non-finite float."""
    if np.issubdtype(values.dtype, np.integer):
        return bool(values.size) and int(values.min()) == INT16_MISSING
    return not bool(np.isfinite(values).all())


def _in_standard_order(lead_names: Optional[Sequence[Sequence[str]]]) -> bool:
    return lead_names is None or all(tuple(names) == STANDARD_LEADS for names in lead_names)


def stored_inputs(
    columns: Mapping[str, Any], feature_extractor: Any, sources: Sequence[str]
) -> Optional[dict[str, Any]]:
    """The batch's stored signals for `normalized_on_device`, or None when it needs the host path.

    Args:
        columns: `training.data.signal_columns` of the batch (`ecg` (B, 12, T) as stored, `sampling_rate` (B,),
            optional `ecg_gain` (B, 12), `num_samples` (B,), `lead_mask` (B, 12), `lead_names`).
        feature_extractor: the run's `SupremeFeatureExtractor`.
        sources: one description per row, for messages about its signal.

    Returns:
        {"ecg_stored": (B, 12, n) tensor in the storage dtype (int16 for int16 storage), "ecg_gain": (B, 12) float32
        or None, "lead_mask": (B, 12) bool (the stored mask; all True without one), "ecg_sources": B strings}.
    """
    rates = np.asarray(columns["sampling_rate"], dtype=float)
    length = _uniform_length(columns)
    if (length is None or not (rates == rates[0]).all() or not _in_standard_order(columns.get("lead_names"))
            or not feature_extractor.needs_only_normalization(float(rates[0]), length)):
        return None
    values = np.asarray(columns["ecg"])[..., :length]
    if np.issubdtype(values.dtype, np.integer):  # datasets' own formatting widens int16 to int64
        values = values.astype(np.int16, copy=False)
    if _has_missing_samples(values):
        return None
    gain = columns.get(GAIN_COLUMN)
    stored_mask = columns.get("lead_mask")
    lead_mask = np.ones(values.shape[:2], bool) if stored_mask is None else np.asarray(stored_mask, dtype=bool)
    return {
        "ecg_stored": torch.from_numpy(np.ascontiguousarray(values)),
        "ecg_gain": None if gain is None else torch.from_numpy(np.asarray(gain, dtype=np.float32)),
        "lead_mask": torch.from_numpy(lead_mask.copy()),
        "ecg_sources": list(sources),
    }


def normalized_on_device(batch: dict[str, Any], feature_extractor: Any) -> dict[str, Any]:
    """A batch from the collator, moved to the accelerator -> the model's inputs: stored signals (`stored_inputs`)
    decoded and normalised on their device into `ecg_values` (B, 12, num_samples) float32 and `lead_mask` (B, 12);
    a batch the host already normalised is returned as it is.

    Raises:
        ValueError: naming the record, for an ECG whose every recorded lead is constant.
    """
    if "ecg_stored" not in batch:
        return batch
    batch = dict(batch)
    stored, gain, sources = (batch.pop(key) for key in STORED_KEYS)
    signals = decode_tensor(stored, gain)
    batch["ecg_values"], batch["lead_mask"] = feature_extractor.normalize_batch(signals, batch["lead_mask"], sources)
    return batch


__all__ = ["STORED_KEYS", "normalized_on_device", "stored_inputs"]
